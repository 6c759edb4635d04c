package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/store/storetest"
)

// scrape GETs /metrics with key ("" sends none) and returns the status
// and body.
func scrape(tb testing.TB, url, key string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsAfterRequests: /metrics counts requests served by the relay
// and reads the log writer, the breakers and the database, for the admin
// key and the scrape token only.
func TestMetricsAfterRequests(t *testing.T) {
	_, up := relaytest.Start(t, relaytest.WithKey("sk-upstream-secret-key"))
	cfg := testConfig(t, storetest.SQLiteDSN(t))
	cfg.MetricsToken = "scrape-token-for-tests"
	g := startGateway(t, cfg)
	key := setup(t, g.srv.URL, up.URL)

	for i, model := range []string{"gpt-4o-mini", "gpt-4o-mini", "no-such-model"} {
		req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if want := map[bool]int{true: 200, false: 404}[i < 2]; resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	admin(t, g.srv.URL, `mutation { updateModelConfig(model: "gpt-4o-mini", input: {rpm: 2}) { rpm } }`, nil, nil)
	for i, want := range []int{200, 200, 429} {
		req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("request %d under RPM 2: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	waitLogs(t, g.srv.URL, 6)

	for _, k := range []string{adminKey, cfg.MetricsToken} {
		st, body := scrape(t, g.srv.URL, k)
		if st != 200 {
			t.Fatalf("scrape with %q: status %d", k, st)
		}
		for _, want := range []string{
			`aiproxy_requests_total{channel="1",group="acme",mode="chat",model="gpt-4o-mini",protocol="openai",status="2xx"} 4`,
			`aiproxy_requests_total{channel="0",group="acme",mode="chat",model="no-such-model",protocol="openai",status="4xx"} 1`,
			`aiproxy_requests_total{channel="0",group="acme",mode="chat",model="gpt-4o-mini",protocol="openai",status="4xx"} 1`,
			`aiproxy_rate_limit_rejections_total{limit="rpm"} 1`,
			`aiproxy_upstream_attempts_total{channel="1"} 4`,
			`aiproxy_request_duration_seconds_count{channel="1",mode="chat"} 4`,
			`aiproxy_tokens_total{kind="input",model="gpt-4o-mini"}`,
			`aiproxy_logs_written_total 6`,
			`aiproxy_log_queue_depth 0`,
			`aiproxy_database_up 1`,
			`go_goroutines`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("scrape with %q: no %s in\n%s", k, want, grepLines(body, "aiproxy_"))
			}
		}
		if strings.Contains(body, "aiproxy_redis_up") {
			t.Error("aiproxy_redis_up without REDIS")
		}
	}
	for _, k := range []string{"", "wrong-key", key} { // a group token is no scrape key
		if st, _ := scrape(t, g.srv.URL, k); st != http.StatusUnauthorized {
			t.Errorf("scrape with %q: status %d, want 401", k, st)
		}
	}
}

func TestMetricsDisabled(t *testing.T) {
	cfg := testConfig(t, storetest.SQLiteDSN(t))
	if !cfg.MetricsEnabled {
		t.Fatal("METRICS_ENABLED is off by default")
	}
	cfg.MetricsEnabled = false
	g := startGateway(t, cfg)
	if st, _ := scrape(t, g.srv.URL, adminKey); st != http.StatusNotFound {
		t.Errorf("status %d, want 404", st)
	}
}

// grepLines returns the lines of s holding substr.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAlertOnProviderRefusal: a provider refusing the channel's key sends
// one alert to the configured webhook, however many requests fail.
func TestAlertOnProviderRefusal(t *testing.T) {
	_, up := relaytest.Start(t, relaytest.WithKey("sk-another-key"))
	var mu sync.Mutex
	var got []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		json.NewDecoder(r.Body).Decode(&v)
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
	}))
	defer hook.Close()
	cfg := testConfig(t, storetest.SQLiteDSN(t))
	cfg.AlertWebhookURL, cfg.AlertAllowPrivateNetwork = hook.URL, true
	g := startGateway(t, cfg)
	key := setup(t, g.srv.URL, up.URL)
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
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
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	var auth int
	for _, a := range got {
		if a["kind"] == "provider_auth" {
			auth++
			if a["channelId"] != float64(1) || a["severity"] != "critical" || strings.Contains(fmt.Sprint(a), "sk-upstream-secret-key") {
				t.Errorf("alert %v", a)
			}
		}
	}
	if auth != 1 {
		t.Errorf("%d provider_auth alerts in %v, want 1", auth, got)
	}
}
