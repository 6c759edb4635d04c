package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// chatStatus sends a chat request with key to the gateway at url and
// returns the HTTP status.
func chatStatus(tb testing.TB, url, key string) int {
	tb.Helper()
	body := `{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello replica"}]}`
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReplicasShareChanges runs two gateways on one PostgreSQL database
// and one Redis: a token created and then disabled through A's admin API
// is served, then refused, by B within a second.
func TestReplicasShareChanges(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	prefix := storetest.Redis(t).Prefix // a prefix of this test's own, cleaned up after it
	_, up := relaytest.Start(t, relaytest.WithKey("sk-upstream-secret-key"))
	replica := func() *gateway {
		cfg := testConfig(t, dsn)
		cfg.Redis = os.Getenv("TEST_REDIS_URL")
		cfg.redisPrefix = prefix
		return startGateway(t, cfg)
	}
	a, b := replica(), replica()
	if b.app.bus == nil {
		t.Fatal("REDIS is set, but the gateway has no Redis bus")
	}

	// within polls B until its answer has the status, failing after a
	// second; it logs how long that took.
	within := func(t *testing.T, what, key string, status int) {
		t.Helper()
		began := time.Now()
		for chatStatus(t, b.srv.URL, key) != status {
			if time.Since(began) > time.Second {
				t.Fatalf("replica B did not answer %d for %s within 1s", status, what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("replica B answered %d for %s after %v", status, what, time.Since(began))
	}

	key := setup(t, a.srv.URL, up.URL)
	within(t, "the new token", key, http.StatusOK)
	var toks struct{ Tokens []struct{ ID string } }
	admin(t, a.srv.URL, `{ tokens(group: "acme") { id } }`, nil, &toks)
	if len(toks.Tokens) != 1 {
		t.Fatalf("tokens: %+v", toks)
	}
	admin(t, a.srv.URL, `mutation($id: ID!) { updateToken(id: $id, input: {enabled: false}) { enabled } }`,
		map[string]any{"id": toks.Tokens[0].ID}, nil)
	if st := chatStatus(t, a.srv.URL, key); st != http.StatusUnauthorized {
		t.Errorf("replica A answered %d for the token it disabled, want 401 at once", st)
	}
	within(t, "the disabled token", key, http.StatusUnauthorized)
}
