package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
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

// replicas starts two gateways on one fresh PostgreSQL database and one
// Redis, under a key prefix of the test's own (cleaned up after it).
func replicas(t *testing.T, opts ...func(*Config)) (a, b *gateway) {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	prefix := storetest.Redis(t).Prefix
	replica := func() *gateway {
		cfg := testConfig(t, dsn)
		cfg.Redis = os.Getenv("TEST_REDIS_URL")
		cfg.RedisPrefix = prefix
		for _, o := range opts {
			o(&cfg)
		}
		return startGateway(t, cfg)
	}
	return replica(), replica()
}

// TestReplicasShareChanges runs two gateways on one PostgreSQL database
// and one Redis: a token created and then disabled through A's admin API
// is served, then refused, by B within a second.
func TestReplicasShareChanges(t *testing.T) {
	_, up := relaytest.Start(t, relaytest.WithKey("sk-upstream-secret-key"))
	a, b := replicas(t)
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

// TestReplicasShareBreakers runs two gateways on one PostgreSQL database
// and one Redis, with a failing channel above a healthy one: the breaker
// opened by the failures A saw steers B's traffic away at once, without B
// sending the failing channel a request of its own.
func TestReplicasShareBreakers(t *testing.T) {
	bad, badURL := relaytest.Start(t, relaytest.WithKey("sk-bad"))
	_, up := relaytest.Start(t, relaytest.WithKey("sk-upstream-secret-key"))
	a, b := replicas(t)
	key := setup(t, a.srv.URL, up.URL)
	admin(t, a.srv.URL, `mutation($u: String!) { createChannel(input: {name: "failing", type: "openai", baseURL: $u, key: "sk-bad",
		models: ["gpt-4o-mini"], modelMapping: [{from: "gpt-4o-mini", to: "fake-error-500"}], priority: 10}) { id } }`,
		map[string]any{"u": badURL.URL + "/v1"}, nil)
	// Both replicas know the new channel before the test goes on.
	for _, g := range []*gateway{a, b} {
		for deadline := time.Now().Add(time.Second); len(g.app.store.Cache().Channels("gpt-4o-mini")) != 2; {
			if time.Now().After(deadline) {
				t.Fatal("a replica does not see the failing channel")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i := range 10 {
		if st := chatStatus(t, a.srv.URL, key); st != http.StatusOK {
			t.Fatalf("request %d through A: %d", i, st)
		}
	}
	seen := len(bad.Requests())
	if seen == 0 || seen > 10 {
		t.Fatalf("the failing channel got %d of A's 10 requests", seen)
	}
	// B learns of the open breaker through Redis within a second.
	deadline := time.Now().Add(time.Second)
	for {
		states := b.app.redisHealth.Snapshot()
		open := false
		for _, h := range states {
			open = open || h.State.Breaker == aiproxy.BreakerOpen
		}
		if open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica B does not see the open breaker: %+v", states)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 10 {
		if st := chatStatus(t, b.srv.URL, key); st != http.StatusOK {
			t.Fatalf("request %d through B: %d", i, st)
		}
	}
	if n := len(bad.Requests()); n != seen {
		t.Errorf("B sent the failing channel %d requests despite the open breaker", n-seen)
	}
}

// The admin API shows each channel's health, tests a channel with a real
// request, and resets its health.
func TestChannelHealthAdmin(t *testing.T) {
	_, up := relaytest.Start(t, relaytest.WithKey("sk-upstream-secret-key"))
	g := startGateway(t, testConfig(t, ""))
	key := setup(t, g.srv.URL, up.URL)
	var created struct{ CreateChannel struct{ ID string } }
	admin(t, g.srv.URL, `mutation($u: String!) { createChannel(input: {name: "failing", type: "openai", baseURL: $u, key: "sk-upstream-secret-key",
		models: ["gpt-4o-mini"], modelMapping: [{from: "gpt-4o-mini", to: "fake-error-401"}], priority: 10}) { id } }`,
		map[string]any{"u": up.URL + "/v1"}, &created)
	id := created.CreateChannel.ID
	if st := chatStatus(t, g.srv.URL, key); st != http.StatusOK {
		t.Fatalf("chat: %d", st)
	}
	type health struct {
		ChannelID  string
		Model      string
		Breaker    string
		OpenReason *string
		Failures   int
	}
	var hs struct{ ChannelHealth []health }
	admin(t, g.srv.URL, `query($id: ID) { channelHealth(channelId: $id) { channelId model breaker openReason failures } }`, map[string]any{"id": id}, &hs)
	if len(hs.ChannelHealth) != 1 || hs.ChannelHealth[0].Breaker != "OPEN" || hs.ChannelHealth[0].OpenReason == nil ||
		!strings.Contains(*hs.ChannelHealth[0].OpenReason, "401") || hs.ChannelHealth[0].Failures != 1 {
		t.Fatalf("health %+v", hs.ChannelHealth)
	}

	var tested struct {
		TestChannel struct {
			Ok     bool
			Status *int
			Answer *string
			Error  *string
		}
	}
	admin(t, g.srv.URL, `mutation($id: ID!) { testChannel(id: $id, model: "gpt-4o-mini") { ok status answer error } }`, map[string]any{"id": id}, &tested)
	if tc := tested.TestChannel; tc.Ok || tc.Status == nil || *tc.Status != 401 || tc.Error == nil || strings.Contains(*tc.Error, "sk-upstream") {
		t.Errorf("test of the failing channel: %+v", tc)
	}
	admin(t, g.srv.URL, `mutation { testChannel(id: "1", model: "gpt-4o-mini") { ok status answer error } }`, nil, &tested)
	if tc := tested.TestChannel; !tc.Ok || tc.Answer == nil || *tc.Answer == "" {
		t.Errorf("test of the healthy channel: %+v", tc)
	}

	// The fake is no provider with a balance endpoint: no balance.
	var bal struct{ RefreshChannelBalance *struct{ Amount float64 } }
	admin(t, g.srv.URL, `mutation($id: ID!) { refreshChannelBalance(id: $id) { amount currency checkedAt } }`, map[string]any{"id": id}, &bal)
	if bal.RefreshChannelBalance != nil {
		t.Errorf("balance of a server without one: %+v", bal.RefreshChannelBalance)
	}

	admin(t, g.srv.URL, `mutation($id: ID!) { resetChannelHealth(id: $id) }`, map[string]any{"id": id}, nil)
	admin(t, g.srv.URL, `query($id: ID) { channelHealth(channelId: $id) { channelId model breaker openReason failures } }`, map[string]any{"id": id}, &hs)
	if len(hs.ChannelHealth) != 0 {
		t.Errorf("health after reset %+v", hs.ChannelHealth)
	}
}

// With Redis gone at runtime the gateway keeps serving from memory,
// admin writes included (they show at once on the replica that made
// them), and a change made during the outage reaches the other replica
// once Redis is back.
func TestRedisOutage(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	r := storetest.Redis(t)
	px := storetest.StartProxy(t, r.Client.Options().Addr)
	_, up := relaytest.Start(t, relaytest.WithKey("sk-upstream-secret-key"))
	replica := func() *gateway {
		cfg := testConfig(t, dsn)
		cfg.Redis = "redis://" + px.Addr() + "/0"
		cfg.RedisPrefix = r.Prefix
		return startGateway(t, cfg)
	}
	a, b := replica(), replica()
	key := setup(t, a.srv.URL, up.URL)
	var toks struct{ Tokens []struct{ ID string } }
	admin(t, a.srv.URL, `{ tokens(group: "acme") { id } }`, nil, &toks)

	px.SetDown(true)
	for i := range 20 {
		if st := chatStatus(t, a.srv.URL, key); st != http.StatusOK {
			t.Fatalf("request %d through A with Redis down: %d", i, st)
		}
	}
	admin(t, a.srv.URL, `mutation($id: ID!) { updateToken(id: $id, input: {enabled: false}) { enabled } }`,
		map[string]any{"id": toks.Tokens[0].ID}, nil)
	if st := chatStatus(t, a.srv.URL, key); st != http.StatusUnauthorized {
		t.Errorf("A answered %d for the token it disabled during the outage", st)
	}

	px.SetDown(false)
	deadline := time.Now().Add(15 * time.Second) // the bus retries with a backoff of up to 5 s
	for chatStatus(t, b.srv.URL, key) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("B still accepts the token disabled during the outage")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
