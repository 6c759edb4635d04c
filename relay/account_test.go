package relay_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/store"
)

// newLimited returns a fixture whose relay has a memory limiter and
// charges f.mem, with the model config mc.
func newLimited(t *testing.T, billing bool, mc *aiproxy.ModelConfig) (*fixture, *relay.Server) {
	t.Helper()
	h := &relay.Server{Limiter: store.NewMemoryLimiter(), Billing: billing}
	f := newFixture(t, h)
	h.Charger = f.mem
	if mc != nil {
		f.mem.SetModelConfig(mc)
	}
	return f, h
}

func chatBody(model string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"hello there"}],"max_tokens":16}`
}

// errorOf decodes an OpenAI error body.
func errorOf(t *testing.T, resp *http.Response) (typ, code, msg string) {
	t.Helper()
	var e struct {
		Error struct{ Type, Code, Message string }
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %q: %v", b, err)
	}
	return e.Error.Type, e.Error.Code, e.Error.Message
}

func TestRateLimitRPM(t *testing.T) {
	f, _ := newLimited(t, false, &aiproxy.ModelConfig{Model: "gpt-4o-mini", RPM: 3})
	for i := 0; i < 3; i++ {
		resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("gpt-4o-mini"))
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		h := resp.Header
		if h.Get("x-ratelimit-limit-requests") != "3" || h.Get("x-ratelimit-remaining-requests") != strconv.Itoa(2-i) || h.Get("x-ratelimit-reset-requests") == "" {
			t.Errorf("request %d: headers limit=%q remaining=%q reset=%q", i, h.Get("x-ratelimit-limit-requests"), h.Get("x-ratelimit-remaining-requests"), h.Get("x-ratelimit-reset-requests"))
		}
		if h.Get("x-ratelimit-limit-tokens") != "" {
			t.Errorf("no TPM limit, yet x-ratelimit-limit-tokens = %q", h.Get("x-ratelimit-limit-tokens"))
		}
		f.mem.NextLog(t)
	}
	resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("gpt-4o-mini"))
	if resp.StatusCode != 429 {
		t.Fatalf("fourth request: status %d, want 429", resp.StatusCode)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("x-ratelimit-remaining-requests") != "0" {
		t.Errorf("refused: remaining = %q", resp.Header.Get("x-ratelimit-remaining-requests"))
	}
	typ, code, msg := errorOf(t, resp)
	if typ != "rate_limit_error" || code != "rate_limit_exceeded" || !strings.Contains(msg, "RPM") {
		t.Errorf("error = %q %q %q", typ, code, msg)
	}
	l := f.mem.NextLog(t)
	if l.StatusCode != 429 || len(l.Attempts) != 0 || l.ChannelID != 0 {
		t.Errorf("refused request's log: status %d, attempts %v: it must not reach a provider", l.StatusCode, l.Attempts)
	}
	if n := len(f.mem.Charges()); n != 3 {
		t.Errorf("%d charges, want 3 (the refused request is not charged)", n)
	}
	// Another model has its own window.
	if resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("mini")); resp.StatusCode != 200 {
		t.Errorf("other model: %d", resp.StatusCode)
	}
}

// TestLimitErrorsInEachProtocol: a refusal is in the client's protocol.
func TestLimitErrorsInEachProtocol(t *testing.T) {
	for _, billing := range []bool{false, true} {
		mc := &aiproxy.ModelConfig{Model: "gpt-4o-mini", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: aiproxy.Price(aiproxy.AmountUnit)}}}
		if !billing {
			mc.RPM = 1
		}
		f, _ := newLimited(t, billing, mc)
		if billing {
			f.token.Quota = 1 // a nano: not enough for any request
		} else if resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("gpt-4o-mini")); resp.StatusCode != 200 {
			t.Fatalf("first request: %d", resp.StatusCode)
		}
		cases := []struct {
			name, path, body string
			header           []string
			status           int
			want             string
		}{
			{"openai", "/v1/chat/completions", chatBody("gpt-4o-mini"), nil, 429, map[bool]string{false: `"code":"rate_limit_exceeded"`, true: `"code":"insufficient_quota"`}[billing]},
			{"anthropic", "/v1/messages", `{"model":"gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`,
				[]string{"x-api-key", testKey, "anthropic-version", "2023-06-01", "Authorization", ""},
				map[bool]int{false: 429, true: 402}[billing], map[bool]string{false: `"type":"rate_limit_error"`, true: `"type":"billing_error"`}[billing]},
			{"gemini", "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`,
				[]string{"x-goog-api-key", testKey, "Authorization", ""}, 429, `"status":"RESOURCE_EXHAUSTED"`},
		}
		for _, c := range cases {
			resp := postJSON(t, f.srv.URL+c.path, c.body, c.header...)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
				t.Errorf("billing=%v %s: %d %s, want %d with %s", billing, c.name, resp.StatusCode, b, c.status, c.want)
			}
			if !billing && resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: no Retry-After", c.name)
			}
			if billing && resp.Header.Get("Retry-After") != "" {
				t.Errorf("%s: Retry-After on insufficient_quota: waiting does not help", c.name)
			}
		}
		for _, l := range f.mem.Logs() {
			if l.StatusCode != 200 && len(l.Attempts) != 0 {
				t.Errorf("billing=%v: a refused request reached a provider: %+v", billing, l.Attempts)
			}
		}
	}
}

// TestQuotaExactUnderBurst: a quota worth 10 requests admits exactly 10
// of 60 concurrent ones, and the used amount is exactly the quota.
func TestQuotaExactUnderBurst(t *testing.T) {
	unit := aiproxy.AmountUnit / 1000
	f, _ := newLimited(t, true, &aiproxy.ModelConfig{Model: "gpt-4o-mini", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{PerRequest: unit}}})
	f.token.Quota = 10 * unit
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/chat/completions", strings.NewReader(chatBody("gpt-4o-mini")))
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				ok.Add(1)
			case 429:
				refused.Add(1)
			default:
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	t.Logf("quota of 10 requests, 60 concurrent: %d admitted, %d refused", ok.Load(), refused.Load())
	if ok.Load() != 10 || refused.Load() != 50 {
		t.Fatalf("admitted %d, refused %d; want 10 and 50", ok.Load(), refused.Load())
	}
	waitLogs(t, f.mem, 60)
	var sum aiproxy.Amount
	for _, c := range f.mem.Charges() {
		sum += c.Amount
	}
	var logged aiproxy.Amount
	for _, l := range f.mem.Logs() {
		logged += l.Amount
		if l.StatusCode == 200 && (l.Cost.Request != unit || l.Amount != unit) {
			t.Errorf("log cost %+v amount %d, want the per-request price %d", l.Cost, l.Amount, unit)
		}
	}
	if sum != 10*unit || logged != sum {
		t.Errorf("charged %d, logged %d, want %d", sum, logged, 10*unit)
	}
}

func waitLogs(t *testing.T, m *relaytest.Memory, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(m.Logs()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d logs, want %d", len(m.Logs()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTPMSettles: the TPM reservation (prompt estimate + max_tokens) is
// corrected to the usage reported once the request ends.
func TestTPMSettles(t *testing.T) {
	f, _ := newLimited(t, false, &aiproxy.ModelConfig{Model: "gpt-4o-mini", TPM: 100_000})
	remaining := func() int64 {
		resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("gpt-4o-mini"))
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("x-ratelimit-limit-tokens") != "100000" {
			t.Fatalf("status %d, limit-tokens %q", resp.StatusCode, resp.Header.Get("x-ratelimit-limit-tokens"))
		}
		n, _ := strconv.ParseInt(resp.Header.Get("x-ratelimit-remaining-tokens"), 10, 64)
		return n
	}
	r1 := remaining()
	l1 := f.mem.NextLog(t)
	reserved := 100_000 - r1
	if reserved < 16 || l1.Usage.TotalTokens == 0 {
		t.Fatalf("reserved %d (max_tokens is 16), used %d", reserved, l1.Usage.TotalTokens)
	}
	r2 := remaining()
	// Request 2 sees request 1 settled to its usage, and its own reservation.
	if want := 100_000 - l1.Usage.TotalTokens - reserved; r2 != want {
		t.Errorf("second remaining = %d, want %d (first used %d, reserved %d)", r2, want, l1.Usage.TotalTokens, reserved)
	}
}

// TestConcurrencyCap: a group with one request in flight at a time; a
// stream the client abandons is settled, billed once, and frees its slot.
func TestConcurrencyCap(t *testing.T) {
	f, _ := newLimited(t, false, &aiproxy.ModelConfig{Model: relaytest.ModelHold, Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: aiproxy.Price(aiproxy.AmountUnit)}}})
	f.group.MaxConcurrency = 1
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+relaytest.ModelHold+`","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	held, err := http.DefaultClient.Do(req)
	if err != nil || held.StatusCode != 200 {
		t.Fatalf("held stream: %v", err)
	}
	held.Body.Read(make([]byte, 64))
	resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("gpt-4o-mini"))
	if typ, code, _ := errorOf(t, resp); resp.StatusCode != 429 || code != "concurrency_limit_exceeded" || typ != "rate_limit_error" {
		t.Fatalf("second request while one is in flight: %d %s %s", resp.StatusCode, typ, code)
	}
	f.mem.NextLog(t)
	cancel()
	held.Body.Close()
	l := f.mem.NextLog(t)
	if l.StatusCode != relay.StatusClientClosed || l.Usage.PromptTokens == 0 || l.Amount == 0 || l.Unpriced {
		t.Errorf("abandoned stream's log: status %d usage %+v amount %d", l.StatusCode, l.Usage, l.Amount)
	}
	if resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("gpt-4o-mini")); resp.StatusCode != 200 {
		t.Errorf("after the stream ended: %d, want its slot free", resp.StatusCode)
	}
	f.mem.NextLog(t)
	var streamCharges int
	for _, c := range f.mem.Charges() {
		if c.Amount == l.Amount {
			streamCharges++
		}
	}
	if n := len(f.mem.Charges()); n != 2 || streamCharges != 1 {
		t.Errorf("charges %+v: want the stream and the last request, once each", f.mem.Charges())
	}
}

// TestTrustedProxies: X-Forwarded-For is believed only from a trusted
// proxy, and then only up to the first hop that is not one.
func TestTrustedProxies(t *testing.T) {
	for _, c := range []struct {
		trusted []string
		xff     string
		want    string
	}{
		{nil, "203.0.113.9", "127.0.0.1"},
		{[]string{"127.0.0.0/8"}, "203.0.113.9", "203.0.113.9"},
		{[]string{"127.0.0.0/8"}, "198.51.100.1, 203.0.113.9", "203.0.113.9"},
		{[]string{"127.0.0.0/8", "10.0.0.0/8"}, "198.51.100.1, 203.0.113.9, 10.1.2.3", "203.0.113.9"},
		{[]string{"127.0.0.0/8"}, "garbage", "127.0.0.1"},
	} {
		h := &relay.Server{}
		for _, p := range c.trusted {
			h.TrustedProxies = append(h.TrustedProxies, netip.MustParsePrefix(p))
		}
		f := newFixture(t, h)
		postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("gpt-4o-mini"), "X-Forwarded-For", c.xff)
		if l := f.mem.NextLog(t); l.ClientIP != c.want {
			t.Errorf("trusted %v, X-Forwarded-For %q: client %s, want %s", c.trusted, c.xff, l.ClientIP, c.want)
		}
	}
}

// TestGroupOverrideApplies: a group's override replaces the model's
// limit and price for that group only.
func TestGroupOverrideApplies(t *testing.T) {
	f, _ := newLimited(t, false, &aiproxy.ModelConfig{Model: "gpt-4o-mini", RPM: 100, Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: aiproxy.Price(aiproxy.AmountUnit)}}})
	rpm := int64(1)
	f.mem.SetGroupModelConfig(&aiproxy.GroupModelConfig{GroupID: "acme", Model: "gpt-4o-mini", RPM: &rpm,
		Pricing: &aiproxy.Pricing{Prices: aiproxy.Prices{PerRequest: 7}}})
	resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("gpt-4o-mini"))
	if resp.StatusCode != 200 || resp.Header.Get("x-ratelimit-limit-requests") != "1" {
		t.Fatalf("status %d limit %q", resp.StatusCode, resp.Header.Get("x-ratelimit-limit-requests"))
	}
	if l := f.mem.NextLog(t); l.Amount != 7 || l.Cost.Request != 7 {
		t.Errorf("amount %d cost %+v, want the group's per-request price 7", l.Amount, l.Cost)
	}
	if resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("gpt-4o-mini")); resp.StatusCode != 429 {
		t.Errorf("second request: %d, want the group's RPM of 1", resp.StatusCode)
	}
}

// TestLowBalanceWarning: a prepaid group whose balance falls under its
// threshold is reported once.
func TestLowBalanceWarning(t *testing.T) {
	var logs strings.Builder
	alerts := &alertList{}
	h := &relay.Server{Limiter: store.NewMemoryLimiter(), Billing: true, Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)), Alerts: alerts}
	f := newFixture(t, h)
	f.mem.SetModelConfig(&aiproxy.ModelConfig{Model: "gpt-4o-mini", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{PerRequest: 100}}})
	f.group.Prepaid, f.group.Credit, f.group.LowBalance = true, 1000, 850
	for i := 0; i < 3; i++ {
		if resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("gpt-4o-mini")); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		f.mem.NextLog(t)
	}
	if n := strings.Count(logs.String(), "group balance low"); n != 1 {
		t.Errorf("%d warnings, want 1 (balance 900, then 800 < 850, then 700):\n%s", n, logs.String())
	}
	alerts.mu.Lock()
	defer alerts.mu.Unlock()
	if len(alerts.got) != 1 || alerts.got[0].Kind != aiproxy.AlertGroupBalance || alerts.got[0].GroupID != f.group.ID || alerts.got[0].Key == "" {
		t.Errorf("alerts %+v, want one group_balance_low", alerts.got)
	}
}

// alertList keeps the alerts the relay sends.
type alertList struct {
	mu  sync.Mutex
	got []aiproxy.Alert
}

func (a *alertList) Alert(al aiproxy.Alert) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, al)
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestRetryBilledOnce: a request that fails on one channel and is
// answered by another is charged once, for the answer, and its
// reservation settles once.
func TestRetryBilledOnce(t *testing.T) {
	f, _ := newLimited(t, true, &aiproxy.ModelConfig{Model: "m", TPM: 1_000_000, Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: aiproxy.Price(aiproxy.AmountUnit), Output: 2 * aiproxy.Price(aiproxy.AmountUnit)}}})
	f.token.Quota = aiproxy.AmountUnit
	f.mem.SetChannels(
		&aiproxy.Channel{ID: 1, Name: "failing", Type: "openai", BaseURL: f.upstream.URL + "/v1", Key: "sk-upstream", Priority: 10, Enabled: true,
			Models: []string{"m"}, ModelMapping: []aiproxy.ModelMapping{{From: "m", To: relaytest.ModelServerError}}},
		&aiproxy.Channel{ID: 2, Name: "working", Type: "openai", BaseURL: f.upstream.URL + "/v1", Key: "sk-upstream", Priority: 0, Enabled: true,
			Models: []string{"m"}, ModelMapping: []aiproxy.ModelMapping{{From: "m", To: "gpt-4o-mini"}}},
	)
	for i := 0; i < 2; i++ {
		resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody("m"))
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		l := f.mem.NextLog(t)
		if len(l.Attempts) != 2 || l.ChannelID != 2 {
			t.Fatalf("attempts %+v channel %d: want the failing channel, then the working one", l.Attempts, l.ChannelID)
		}
		price := aiproxy.Pricing{Prices: aiproxy.Prices{Input: aiproxy.Price(aiproxy.AmountUnit), Output: 2 * aiproxy.Price(aiproxy.AmountUnit)}}
		want := price.Cost(l.Usage, "", l.CreatedAt).Total()
		if l.Amount != want || want == 0 {
			t.Errorf("amount %d, want %d for the answer's usage %+v", l.Amount, want, l.Usage)
		}
		if i == 1 {
			// The second request's window holds the first one settled to
			// its usage and its own reservation: the first settled once.
			rem, _ := strconv.ParseInt(resp.Header.Get("x-ratelimit-remaining-tokens"), 10, 64)
			if rem <= 1_000_000-2*l.Usage.TotalTokens-1000 || rem >= 1_000_000-l.Usage.TotalTokens {
				t.Errorf("remaining tokens %d after two requests of %d tokens each", rem, l.Usage.TotalTokens)
			}
		}
	}
	var sum aiproxy.Amount
	for _, c := range f.mem.Charges() {
		sum += c.Amount
		if c.Requests != 1 {
			t.Errorf("charge %+v: one request each", c)
		}
	}
	if n := len(f.mem.Charges()); n != 2 {
		t.Errorf("%d charges for 2 requests", n)
	}
	if logs := f.mem.Logs(); sum != logs[0].Amount+logs[1].Amount {
		t.Errorf("charged %d, logged %d", sum, logs[0].Amount+logs[1].Amount)
	}
}

// TestCostComponentsFromEachProtocol: the cached, cache-write (5-minute
// and 1-hour), reasoning and audio tokens a provider reports are billed
// at their own prices, component by component.
func TestCostComponentsFromEachProtocol(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, ":generateContent") {
			io.WriteString(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP","index":0}],`+
				`"usageMetadata":{"promptTokenCount":300,"candidatesTokenCount":40,"thoughtsTokenCount":10,"cachedContentTokenCount":100,"totalTokenCount":350,`+
				`"promptTokensDetails":[{"modality":"TEXT","tokenCount":200},{"modality":"AUDIO","tokenCount":100}]},"modelVersion":"gemini-2.5-flash"}`)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/messages") {
			io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4","content":[{"type":"text","text":"hi"}],`+
				`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":100,"cache_creation_input_tokens":300,"cache_read_input_tokens":200,`+
				`"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},"output_tokens":50}}`)
			return
		}
		io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-audio-preview","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":40,"audio_tokens":10},"completion_tokens_details":{"reasoning_tokens":5,"audio_tokens":7}}}`)
	}))
	t.Cleanup(up.Close)
	f, _ := newLimited(t, false, nil)
	f.mem.SetChannels(
		&aiproxy.Channel{ID: 1, Name: "anthropic", Type: "anthropic", BaseURL: up.URL, Key: "sk-ant", Enabled: true, Models: []string{"claude-sonnet-4"}},
		&aiproxy.Channel{ID: 2, Name: "openai", Type: "openai", BaseURL: up.URL + "/v1", Key: "sk-oai", Enabled: true, Models: []string{"gpt-4o-audio-preview"}},
		&aiproxy.Channel{ID: 3, Name: "gemini", Type: "gemini", BaseURL: up.URL, Key: "gm-key", Enabled: true, Models: []string{"gemini-2.5-flash"}},
	)
	f.mem.SetCatalogue(aiproxy.BuiltinCatalogue()) // Gemini 2.5 Flash at the catalogue's prices
	f.mem.SetModelConfig(&aiproxy.ModelConfig{Model: "claude-sonnet-4", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{
		Input: 3 * perMillion, Output: 15 * perMillion, CachedInput: perMillion * 3 / 10, CacheWrite: perMillion * 375 / 100, CacheWrite1h: 6 * perMillion}}})
	f.mem.SetModelConfig(&aiproxy.ModelConfig{Model: "gpt-4o-audio-preview", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{
		Input: 2 * perMillion, Output: 10 * perMillion, CachedInput: perMillion, AudioInput: 40 * perMillion, AudioOutput: 80 * perMillion, Reasoning: 20 * perMillion}}})

	for _, c := range []struct {
		model string
		want  aiproxy.Cost
	}{
		// Anthropic: 100 uncached input, 200 cache reads, 100 five-minute
		// and 200 one-hour cache writes, 50 output.
		{"claude-sonnet-4", aiproxy.Cost{Input: 100 * 3000, CachedInput: 200 * 300, CacheWrite: 100 * 3750, CacheWrite1h: 200 * 6000, Output: 50 * 15000}},
		// OpenAI: 100 prompt tokens of which 40 cached and 10 audio; 50
		// completion tokens of which 5 reasoning and 7 audio.
		// Gemini: 300 prompt tokens of which 100 cached and 100 audio; 50
		// completion tokens of which 10 thoughts (at the output price).
		{"gemini-2.5-flash", aiproxy.Cost{Input: 100 * 300, CachedInput: 100 * 75, AudioInput: 100 * 1000, Output: 40 * 2500, Reasoning: 10 * 2500}},
		{"gpt-4o-audio-preview", aiproxy.Cost{Input: 50 * 2000, CachedInput: 40 * 1000, AudioInput: 10 * 40000, Output: 38 * 10000, Reasoning: 5 * 20000, AudioOutput: 7 * 80000}},
	} {
		resp := postJSON(t, f.srv.URL+"/v1/chat/completions", chatBody(c.model))
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", c.model, resp.StatusCode, b)
		}
		l := f.mem.NextLog(t)
		if l.Cost != c.want || l.Amount != c.want.Total() {
			t.Errorf("%s: usage %+v\ncost %+v\nwant %+v", c.model, l.Usage, l.Cost, c.want)
		}
	}
}

const perMillion = aiproxy.Price(aiproxy.AmountUnit)

// TestServiceTierPrice: a request asking for a service tier is billed at
// that tier's price, and the log names the tier.
func TestServiceTierPrice(t *testing.T) {
	f, _ := newLimited(t, false, &aiproxy.ModelConfig{Model: "gpt-4o-mini", Pricing: aiproxy.Pricing{
		Prices: aiproxy.Prices{Input: 2 * perMillion, Output: 8 * perMillion},
		Tiers:  []aiproxy.PriceTier{{Name: "flex", ServiceTier: "flex", Prices: aiproxy.Prices{Input: perMillion, Output: 4 * perMillion}}},
	}})
	for _, c := range []struct {
		tier          string
		input, output int64 // nanos a token
	}{{"", 2000, 8000}, {"flex", 1000, 4000}} {
		body := chatBody("gpt-4o-mini")
		if c.tier != "" {
			body = strings.Replace(body, `"max_tokens"`, `"service_tier":"`+c.tier+`","max_tokens"`, 1)
		}
		if resp := postJSON(t, f.srv.URL+"/v1/chat/completions", body); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		l := f.mem.NextLog(t)
		want := aiproxy.Amount(l.Usage.PromptTokens*c.input + l.Usage.CompletionTokens*c.output)
		if l.ServiceTier != c.tier || l.Amount != want {
			t.Errorf("tier %q: logged tier %q, amount %d, want %d", c.tier, l.ServiceTier, l.Amount, want)
		}
	}
}
