package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// A request relayed by the gateway reaches a logAdded subscription over
// SSE, and shutting down ends the subscription.
func TestLiveLogsEndToEnd(t *testing.T) {
	_, up := relaytest.Start(t, relaytest.WithKey("sk-upstream-secret-key"))
	g := startGateway(t, testConfig(t, storetest.SQLiteDSN(t)))
	key := setup(t, g.srv.URL, up.URL)

	body := `{"query":"subscription { logAdded(filter: {group: \"acme\"}) { requestId group model statusCode totalTokens requestBody } }"}`
	req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", resp, err)
	}
	defer resp.Body.Close()
	events := make(chan string, 8)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- v
			} else if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- v
			}
		}
	}()
	for deadline := time.Now().Add(3 * time.Second); g.app.live.Subscribers() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no subscriber")
		}
	}

	client := openai.NewClient(option.WithBaseURL(g.srv.URL+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
	if _, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello live")},
	}); err != nil {
		t.Fatal(err)
	}
	read := func() string {
		t.Helper()
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("nothing within 5s")
		}
		return ""
	}
	if e := read(); e != "next" {
		t.Fatalf("event %q, want next", e)
	}
	var p struct {
		Data struct {
			LogAdded struct {
				RequestID, Group, Model string
				StatusCode, TotalTokens int
				RequestBody             *string
			}
		}
	}
	if data := read(); json.Unmarshal([]byte(data), &p) != nil {
		t.Fatalf("data %s", data)
	}
	if l := p.Data.LogAdded; l.RequestID == "" || l.Group != "acme" || l.Model != "mini" || l.StatusCode != 200 || l.TotalTokens == 0 || l.RequestBody != nil {
		t.Errorf("live log %+v", l)
	}

	g.app.endLive() // what the server's shutdown does
	if e := read(); e != "complete" {
		t.Errorf("after shutdown: %q, want complete", e)
	}
}
