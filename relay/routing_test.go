package relay_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/providers"
	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/store"
)

// routing is a gateway in front of two fake OpenAI providers: channel 1
// (priority 10) serves the model "m" as up1Model, channel 2 (priority 0)
// serves it as an ordinary model, so that every request tries channel 1
// first while it is healthy.
type routing struct {
	mem      *relaytest.Memory
	up1, up2 *relaytest.Provider
	health   *store.MemoryHealth
	server   *relay.Server
	client   openai.Client
	srv      *httptest.Server
}

func newRouting(t *testing.T, up1Model string) *routing {
	t.Helper()
	up1, srv1 := relaytest.Start(t, relaytest.WithKey("sk-up"))
	up2, srv2 := relaytest.Start(t, relaytest.WithKey("sk-up"))
	mem := relaytest.NewMemory()
	mem.AddToken(testKey, &aiproxy.Token{ID: 7, GroupID: "acme", Name: "backend", Enabled: true}, &aiproxy.Group{ID: "acme", Enabled: true})
	mem.SetChannels(
		&aiproxy.Channel{ID: 1, Name: "first", Type: "openai", BaseURL: srv1.URL + "/v1", Key: "sk-up", Priority: 10, Enabled: true,
			Models: []string{"m"}, ModelMapping: []aiproxy.ModelMapping{{From: "m", To: up1Model}}},
		&aiproxy.Channel{ID: 2, Name: "second", Type: "openai", BaseURL: srv2.URL + "/v1", Key: "sk-up", Enabled: true,
			Models: []string{"m"}, ModelMapping: []aiproxy.ModelMapping{{From: "m", To: "gpt-4o-mini"}}},
	)
	h := store.NewMemoryHealth()
	s := &relay.Server{Keys: mem, Catalog: mem, Logs: mem, Providers: providers.Providers(), Ingresses: providers.Ingresses(), Health: h}
	r := chi.NewRouter()
	s.Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &routing{mem: mem, up1: up1, up2: up2, health: h, srv: srv, server: s,
		client: openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey(testKey), option.WithMaxRetries(0))}
}

func (r *routing) chat(t *testing.T, stream bool) (string, error) {
	t.Helper()
	p := openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}
	if !stream {
		res, err := r.client.Chat.Completions.New(context.Background(), p)
		if err != nil {
			return "", err
		}
		return res.Choices[0].Message.Content, nil
	}
	st := r.client.Chat.Completions.NewStreaming(context.Background(), p)
	var acc openai.ChatCompletionAccumulator
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if err := st.Err(); err != nil {
		return "", err
	}
	return acc.Choices[0].Message.Content, nil
}

// A channel that fails over to another: the client gets the healthy
// channel's answer, and the log's attempts tell what happened.
func TestFailoverRecordsAttempts(t *testing.T) {
	for _, tt := range []struct {
		model  string
		status int
	}{
		{relaytest.ModelServerError, 500},
		{relaytest.ModelUnavailable, 503},
		{relaytest.ModelUnauthorized, 401},
		{relaytest.ModelForbidden, 403},
		{relaytest.ModelNotFound, 404},
		{relaytest.ModelRateLimited, 429},
	} {
		t.Run(tt.model, func(t *testing.T) {
			r := newRouting(t, tt.model)
			for _, stream := range []bool{false, true} {
				text, err := r.chat(t, stream)
				if err != nil || !strings.Contains(text, "hello") {
					t.Fatalf("stream=%v: answer %q, %v", stream, text, err)
				}
				l := r.mem.NextLog(t)
				if l.StatusCode != 200 || l.ChannelID != 2 {
					t.Errorf("log status %d channel %d", l.StatusCode, l.ChannelID)
				}
				// After a 429 (parked) or an auth failure (breaker open at
				// once), the second request goes straight to channel 2.
				skipped := stream && (tt.status == 429 || tt.status == 401 || tt.status == 403)
				var want []aiproxy.LogAttempt
				if !skipped {
					want = append(want, aiproxy.LogAttempt{ChannelID: 1, Status: tt.status})
				}
				want = append(want, aiproxy.LogAttempt{ChannelID: 2, Status: 200})
				if len(l.Attempts) != len(want) {
					t.Fatalf("stream=%v: attempts %+v, want channels %+v", stream, l.Attempts, want)
				}
				for i, a := range l.Attempts {
					if a.ChannelID != want[i].ChannelID || a.Status != want[i].Status || (a.Error == "") != (want[i].Status == 200) {
						t.Errorf("stream=%v: attempt %d %+v, want %+v", stream, i, a, want[i])
					}
				}
			}
		})
	}
}

// A 400 is the client's: passed on at once, no other channel tried, and
// the channel's health untouched.
func TestClientErrorNotRetried(t *testing.T) {
	r := newRouting(t, relaytest.ModelBadRequest)
	_, err := r.chat(t, false)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Fatalf("err %v, want the provider's 400", err)
	}
	l := r.mem.NextLog(t)
	if len(l.Attempts) != 1 || len(r.up2.Requests()) != 0 {
		t.Errorf("attempts %+v, channel 2 got %d requests", l.Attempts, len(r.up2.Requests()))
	}
	if st := r.health.Check(1, "m", time.Now()); st.Breaker != aiproxy.BreakerClosed || st.ErrorRate != 0 {
		t.Errorf("channel 1 health %+v after the client's error", st)
	}
}

// A channel failing every request stops getting traffic after at most 10
// of its requests; all of them are answered by the other channel.
func TestBreakerSteersAway(t *testing.T) {
	r := newRouting(t, relaytest.ModelServerError)
	for i := range 30 {
		if _, err := r.chat(t, i%2 == 1); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		r.mem.NextLog(t)
	}
	if n := len(r.up1.Requests()); n == 0 || n > 10 {
		t.Errorf("the failing channel got %d of 30 requests, want 1 to 10", n)
	}
	if st := r.health.Check(1, "m", time.Now()); st.Breaker != aiproxy.BreakerOpen {
		t.Errorf("channel 1 breaker %v, want open", st.Breaker)
	}
}

// A 429 with Retry-After parks the channel: the next requests go straight
// to the other one, and with no other channel the client gets a 429 with
// Retry-After, not a 500.
func TestRateLimitParks(t *testing.T) {
	r := newRouting(t, relaytest.ModelRateLimited)
	for range 3 {
		if _, err := r.chat(t, false); err != nil {
			t.Fatal(err)
		}
		r.mem.NextLog(t)
	}
	if n := len(r.up1.Requests()); n != 1 {
		t.Errorf("the parked channel got %d requests, want 1", n)
	}
	if st := r.health.Check(1, "m", time.Now()); !st.ParkedUntil.After(time.Now()) {
		t.Errorf("channel 1 not parked: %+v", st)
	}

	// Only the rate-limited channel left.
	r.mem.SetChannels(&aiproxy.Channel{ID: 1, Name: "first", Type: "openai", BaseURL: r.up1URL(t), Key: "sk-up", Enabled: true,
		Models: []string{"m"}, ModelMapping: []aiproxy.ModelMapping{{From: "m", To: relaytest.ModelRateLimited}}})
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q: want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func (r *routing) up1URL(t *testing.T) string {
	t.Helper()
	for _, c := range r.mem.Channels("m") {
		if c.ID == 1 {
			return c.BaseURL
		}
	}
	t.Fatal("no channel 1")
	return ""
}

// A stream that breaks after its first byte reached the client is not
// retried (the client would get a duplicated answer): the client sees the
// break, and the log says which channel broke.
func TestStreamCutNotRetried(t *testing.T) {
	r := newRouting(t, relaytest.ModelCut)
	if _, err := r.chat(t, true); err == nil {
		t.Fatal("a cut stream ended without an error")
	}
	l := r.mem.NextLog(t)
	if len(l.Attempts) != 1 || l.Attempts[0].ChannelID != 1 || len(r.up2.Requests()) != 0 {
		t.Errorf("attempts %+v, channel 2 got %d requests", l.Attempts, len(r.up2.Requests()))
	}
}

// A group's requests go only to channels in one of its availableSets; a
// model served only outside them is, for that group, not there at all.
func TestChannelSets(t *testing.T) {
	r := newRouting(t, relaytest.ModelServerError)
	chs := r.mem.Channels("m")
	premium := *chs[1] // channel 2, the healthy one
	premium.Sets = []string{"premium"}
	r.mem.SetChannels(chs[0], &premium)
	// The group uses the default set only: channel 1 (failing) is all it has.
	if _, err := r.chat(t, false); err == nil {
		t.Fatal("the group reached a channel outside its sets")
	}
	if l := r.mem.NextLog(t); len(l.Attempts) != 1 || l.Attempts[0].ChannelID != 1 {
		t.Errorf("attempts %+v, want channel 1 only", l.Attempts)
	}
	// Only premium: channel 2 serves it.
	r.mem.AddToken(testKey, &aiproxy.Token{ID: 7, GroupID: "acme", Name: "backend", Enabled: true},
		&aiproxy.Group{ID: "acme", Enabled: true, AvailableSets: []string{"premium"}})
	if text, err := r.chat(t, false); err != nil || !strings.Contains(text, "hello") {
		t.Fatalf("premium group: %q, %v", text, err)
	}
	if l := r.mem.NextLog(t); len(l.Attempts) != 1 || l.Attempts[0].ChannelID != 2 {
		t.Errorf("attempts %+v, want channel 2 only", l.Attempts)
	}
	// A set no channel serves the model in: the model is not found.
	r.mem.AddToken(testKey, &aiproxy.Token{ID: 7, GroupID: "acme", Name: "backend", Enabled: true},
		&aiproxy.Group{ID: "acme", Enabled: true, AvailableSets: []string{"nowhere"}})
	_, err := r.chat(t, false)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("err %v, want 404", err)
	}
	r.mem.NextLog(t)
}

// A channel's ProxyURL carries its requests (the proxy sees them), and its
// Headers are added to each.
func TestChannelProxyAndHeaders(t *testing.T) {
	r := newRouting(t, "gpt-4o-mini")
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		proxied.Add(1)
		out := req.Clone(req.Context())
		out.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	chs := r.mem.Channels("m")
	first := *chs[0]
	first.ProxyURL = proxy.URL
	first.Headers = []aiproxy.Header{{Name: "X-Team", Value: "blue"}}
	r.mem.SetChannels(&first)
	if text, err := r.chat(t, false); err != nil || !strings.Contains(text, "hello") {
		t.Fatalf("through the proxy: %q, %v", text, err)
	}
	r.mem.NextLog(t)
	if proxied.Load() != 1 {
		t.Errorf("the proxy saw %d requests, want 1", proxied.Load())
	}
	reqs := r.up1.Requests()
	if len(reqs) != 1 || reqs[0].Header.Get("X-Team") != "blue" {
		t.Errorf("the provider got %d requests, X-Team %q", len(reqs), reqs[0].Header.Get("X-Team"))
	}
}

// A provider that never answers, or sends a stream's headers and then
// nothing, is timed out (the mode's timeout; the first event's) and the
// request answered by the other channel; the log says why.
func TestTimeoutsFailOver(t *testing.T) {
	for _, tt := range []struct {
		model  string
		stream bool
	}{
		{relaytest.ModelHang, false},
		{relaytest.ModelHang, true},
		{relaytest.ModelHold, true}, // headers and the first event, then silence: that first event came, so...
	} {
		t.Run(tt.model+map[bool]string{false: "", true: "/stream"}[tt.stream], func(t *testing.T) {
			r := newRouting(t, tt.model)
			r.server.Timeouts = map[aiproxy.Mode]time.Duration{aiproxy.ModeChat: 300 * time.Millisecond}
			r.server.FirstEventTimeout = 300 * time.Millisecond
			r.server.StreamIdleTimeout = 300 * time.Millisecond
			text, err := r.chat(t, tt.stream)
			l := r.mem.NextLog(t)
			if tt.model == relaytest.ModelHold {
				// ...the stream is the client's by then: it breaks off
				// after the idle timeout instead of being retried.
				if err == nil || len(l.Attempts) != 1 {
					t.Fatalf("held stream: %q, %v, attempts %+v", text, err, l.Attempts)
				}
				return
			}
			if err != nil || !strings.Contains(text, "hello") {
				t.Fatalf("answer %q, %v", text, err)
			}
			if len(l.Attempts) != 2 || l.Attempts[0].ChannelID != 1 || !strings.Contains(l.Attempts[0].Error, "timeout") {
				t.Errorf("attempts %+v", l.Attempts)
			}
		})
	}
}

// A model's own maxAttempts and timeout override the gateway's.
func TestModelOverrides(t *testing.T) {
	r := newRouting(t, relaytest.ModelServerError)
	r.mem.SetModelConfig(&aiproxy.ModelConfig{Model: "m", MaxAttempts: 1})
	if _, err := r.chat(t, false); err == nil {
		t.Fatal("maxAttempts 1: the request was retried")
	}
	if l := r.mem.NextLog(t); len(l.Attempts) != 1 {
		t.Errorf("attempts %+v, want 1", l.Attempts)
	}

	r = newRouting(t, relaytest.ModelHang)
	r.server.Timeouts = map[aiproxy.Mode]time.Duration{aiproxy.ModeChat: time.Hour}
	r.mem.SetModelConfig(&aiproxy.ModelConfig{Model: "m", Timeout: 200 * time.Millisecond})
	began := time.Now()
	if _, err := r.chat(t, false); err != nil {
		t.Fatal(err)
	}
	if l := r.mem.NextLog(t); len(l.Attempts) != 2 || time.Since(began) > 10*time.Second {
		t.Errorf("attempts %+v after %v", l.Attempts, time.Since(began))
	}
}

// Channel balances read from the providers that expose one (DeepSeek,
// Moonshot, OpenRouter), each in its own shape; unknown servers have none.
func TestBalances(t *testing.T) {
	answers := map[string]string{
		"api.deepseek.com/user/balance":       `{"is_available":true,"balance_infos":[{"currency":"CNY","total_balance":"110.00","granted_balance":"10.00","topped_up_balance":"100.00"},{"currency":"USD","total_balance":"15.50"}]}`,
		"api.moonshot.cn/v1/users/me/balance": `{"code":0,"data":{"available_balance":49.58894,"voucher_balance":46.58893,"cash_balance":3.00001},"scode":"0x0","status":true}`,
		"openrouter.ai/api/v1/credits":        `{"data":{"total_credits":100.5,"total_usage":25.75}}`,
		"api.moonshot.ai/v1/users/me/balance": `{"error":{"message":"Invalid Authentication","type":"invalid_authentication_error"}}`,
	}
	var auth []string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		body, ok := answers[r.Host+r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.Contains(body, "error") {
			w.WriteHeader(http.StatusUnauthorized)
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(fake.Close)
	// Every host dials the fake, which answers by the Host header.
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, fake.Listener.Addr().String())
	}}
	s := &relay.Server{Providers: providers.Providers(), Client: &http.Client{Transport: tr}}
	b := &relay.Balances{Server: s}
	for _, tt := range []struct {
		base     string
		ok       bool
		amount   float64
		currency string
		err      bool
	}{
		{"http://api.deepseek.com/v1", true, 15.5, "USD", false},
		{"http://api.moonshot.cn/v1", true, 49.58894, "CNY", false},
		{"http://openrouter.ai/api/v1", true, 74.75, "USD", false},
		{"http://api.moonshot.ai/v1", true, 0, "", true},
		{"http://llm.internal:8000/v1", false, 0, "", false},
	} {
		ch := &aiproxy.Channel{ID: 9, Type: "openai", BaseURL: tt.base, Key: "sk-balance"}
		v, ok, err := b.Refresh(context.Background(), ch)
		if ok != tt.ok || (err != nil) != tt.err || (!tt.err && tt.ok && (v.Amount != tt.amount || v.Currency != tt.currency || v.CheckedAt.IsZero())) {
			t.Errorf("%s: %+v ok %v err %v", tt.base, v, ok, err)
		}
	}
	if got, ok := b.Balance(9); !ok || got.Amount != 74.75 {
		t.Errorf("kept %+v %v, want the last good read (OpenRouter's)", got, ok)
	}
	for _, a := range auth {
		if a != "Bearer sk-balance" {
			t.Errorf("Authorization %q", a)
		}
	}
}

// Each channel has a connection pool of its own: two channels on one
// provider host open separate connections.
func TestPoolPerChannel(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(relaytest.NewProvider(relaytest.WithKey("sk-up")))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	mem := relaytest.NewMemory()
	mem.AddToken(testKey, &aiproxy.Token{ID: 7, GroupID: "acme", Name: "backend", Enabled: true}, &aiproxy.Group{ID: "acme", Enabled: true})
	var chs []*aiproxy.Channel
	for id := int64(1); id <= 2; id++ {
		m := "m" + strconv.FormatInt(id, 10)
		chs = append(chs, &aiproxy.Channel{ID: id, Name: "c", Type: "openai", BaseURL: srv.URL + "/v1", Key: "sk-up", Enabled: true,
			Models: []string{m}, ModelMapping: []aiproxy.ModelMapping{{From: m, To: "gpt-4o-mini"}}})
	}
	mem.SetChannels(chs...)
	s := &relay.Server{Keys: mem, Catalog: mem, Logs: mem, Providers: providers.Providers(), Ingresses: providers.Ingresses()}
	r := chi.NewRouter()
	s.Mount(r)
	gw := httptest.NewServer(r)
	t.Cleanup(gw.Close)
	client := openai.NewClient(option.WithBaseURL(gw.URL+"/v1"), option.WithAPIKey(testKey), option.WithMaxRetries(0))
	for range 3 {
		for _, m := range []string{"m1", "m2"} {
			if _, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: m,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
				t.Fatal(err)
			}
			mem.NextLog(t)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d upstream connections for 6 sequential requests over 2 channels, want 2 (one pool each, reused)", n)
	}
}
