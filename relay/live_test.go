package relay_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/relaytest"
)

// inFlight is a relay.InFlight that counts by group, model and stream.
type inFlight struct {
	mu     sync.Mutex
	now    map[string]int
	starts int
}

var _ relay.InFlight = (*inFlight)(nil)

func (f *inFlight) Start(group, model string, stream bool) func() {
	key := group + "/" + model
	if stream {
		key += "/stream"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts++
	f.now[key]++
	return sync.OnceFunc(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.now[key]--
	})
}

func (f *inFlight) count(key string) (now, starts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now[key], f.starts
}

func TestInFlight(t *testing.T) {
	live := &inFlight{now: map[string]int{}}
	f := newFixture(t, &relay.Server{Live: live})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+relaytest.ModelHold+`","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	held, err := http.DefaultClient.Do(req)
	if err != nil || held.StatusCode != 200 {
		t.Fatalf("held stream: %v", err)
	}
	held.Body.Read(make([]byte, 64))
	if now, _ := live.count("acme/" + relaytest.ModelHold + "/stream"); now != 1 {
		t.Errorf("held stream: %d in flight, want 1", now)
	}

	if resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("gpt-4o-mini")); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	f.mem.NextLog(t)
	if now, starts := live.count("acme/gpt-4o-mini"); now != 0 || starts != 2 {
		t.Errorf("after an answered request: %d in flight, %d started; want 0, 2", now, starts)
	}

	// Refused before the model is known: never counted.
	bad, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/chat/completions", strings.NewReader(`{"messages":[]}`))
	bad.Header.Set("Authorization", "Bearer "+testKey)
	if resp, err := http.DefaultClient.Do(bad); err != nil || resp.StatusCode != 400 {
		t.Fatalf("request without a model: %v %v", resp, err)
	}
	f.mem.NextLog(t)
	if _, starts := live.count(""); starts != 2 {
		t.Errorf("%d started, want 2: a request without a model is not in flight", starts)
	}

	cancel()
	held.Body.Close()
	f.mem.NextLog(t)
	deadline := time.Now().Add(2 * time.Second)
	for now, _ := live.count("acme/" + relaytest.ModelHold + "/stream"); now != 0; now, _ = live.count("acme/" + relaytest.ModelHold + "/stream") {
		if time.Now().After(deadline) {
			t.Fatalf("abandoned stream: %d in flight, want 0", now)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
