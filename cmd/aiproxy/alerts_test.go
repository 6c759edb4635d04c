package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/relay/relaytest"
)

// TestReplicasAlertSinks: a sink administered on replica A receives the
// alert replica B raises (a provider refusing a channel's key), B having
// reloaded its sinks on A's announcement; deleting the sink on A stops B
// sending to it.
func TestReplicasAlertSinks(t *testing.T) {
	_, up := relaytest.Start(t, relaytest.WithKey("sk-upstream-secret-key"))
	var mu sync.Mutex
	var got []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &v); err != nil {
			t.Errorf("payload %s: %v", b, err)
		}
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
	}))
	defer hook.Close()
	a, b := replicas(t)
	key := setup(t, a.srv.URL, up.URL)
	admin(t, a.srv.URL, `mutation($u: String!) { createChannel(input: {name: "wrong key", type: "openai", baseURL: $u, key: "sk-wrong", models: ["gpt-4o"]}) { id } }`,
		map[string]any{"u": up.URL + "/v1"}, nil)
	var sink struct{ CreateAlertSink struct{ ID string } }
	admin(t, a.srv.URL, `mutation($u: String!) { createAlertSink(input: {name: "ops", kind: WEBHOOK, url: $u, allowPrivateNetwork: true, kinds: ["provider_auth"]}) { id } }`,
		map[string]any{"u": hook.URL + "/alerts"}, &sink)

	waitSinks := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for slices.Contains(b.app.alerts.SinkNames(), "webhook:ops") != want {
			if time.Now().After(deadline) {
				t.Fatalf("replica B's sinks %v: webhook:ops present should be %v", b.app.alerts.SinkNames(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitSinks(true)
	body := `{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}`
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if len(got) != 1 || got[0]["kind"] != "provider_auth" || got[0]["channelId"] == nil {
		t.Errorf("the sink got %v, want one provider_auth alert", got)
	}
	mu.Unlock()

	admin(t, a.srv.URL, `mutation($id: ID!) { deleteAlertSink(id: $id) }`, map[string]any{"id": sink.CreateAlertSink.ID}, nil)
	waitSinks(false)
}
