package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	openaiad "github.com/aiproxy/aiproxy/relay/openai"
	"github.com/aiproxy/aiproxy/relay/providers"
	"github.com/aiproxy/aiproxy/relay/relaytest"
)

const testKey = "sk-test-key"

// fixture is a relay in front of a fake provider.
type fixture struct {
	mem      *relaytest.Memory
	token    *aiproxy.Token
	group    *aiproxy.Group
	configs  map[string]*aiproxy.ModelConfig
	provider *relaytest.Provider
	upstream *httptest.Server
	srv      *httptest.Server
	client   openai.Client
}

// newFixture starts a provider and a relay with one channel for the
// usual models; change f.mem's channels before the first request to change that.
func newFixture(t testing.TB, h *relay.Server, opts ...relaytest.Option) *fixture {
	t.Helper()
	p, up := relaytest.Start(t, append([]relaytest.Option{relaytest.WithKey("sk-upstream")}, opts...)...)
	mem := relaytest.NewMemory()
	tok := &aiproxy.Token{ID: 7, GroupID: "acme", Name: "backend", Enabled: true}
	grp := &aiproxy.Group{ID: "acme", Enabled: true}
	mem.AddToken(testKey, tok, grp)
	mem.SetChannels(&aiproxy.Channel{
		ID: 1, Name: "main", Type: openaiad.Type, BaseURL: up.URL + "/v1", Key: "sk-upstream",
		Models:       []string{"gpt-4o-mini", "mini", "text-embedding-3-small", "gpt-3.5-turbo-instruct", relaytest.ModelNoUsage, relaytest.ModelHold, relaytest.ModelBadRequest, relaytest.ModelHang, relaytest.ModelCut, "org/model-with/slash"},
		ModelMapping: []aiproxy.ModelMapping{{From: "mini", To: "gpt-4o-mini"}},
		Enabled:      true,
	})
	configs := map[string]*aiproxy.ModelConfig{
		"gpt-4o-mini": {Model: "gpt-4o-mini", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: 150_000_000, Output: 600_000_000}}},
	}
	for _, mc := range configs {
		mem.SetModelConfig(mc)
	}
	if h == nil {
		h = &relay.Server{}
	}
	h.Keys, h.Catalog, h.Logs, h.Providers, h.Ingresses = mem, mem, mem, providers.Providers(), providers.Ingresses()
	r := chi.NewRouter()
	h.Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &fixture{
		mem: mem, token: tok, group: grp, configs: configs, provider: p, upstream: up, srv: srv,
		client: openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey(testKey), option.WithMaxRetries(0)),
	}
}

func chatParams(model, say string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(say)},
	}
}

func TestChat(t *testing.T) {
	f := newFixture(t, nil)
	resp, err := f.client.Chat.Completions.New(context.Background(), chatParams("mini", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "mini" {
		t.Errorf("answer model = %q, want the name the client asked for", resp.Model)
	}
	if !strings.Contains(resp.Choices[0].Message.Content, "hi") {
		t.Errorf("content = %q", resp.Choices[0].Message.Content)
	}
	reqs := f.provider.Requests()
	if got := reqs[len(reqs)-1].JSON["model"]; got != "gpt-4o-mini" {
		t.Errorf("model sent upstream = %v, want the mapped name", got)
	}
	if auth := reqs[len(reqs)-1].Header.Get("Authorization"); auth != "Bearer sk-upstream" {
		t.Errorf("upstream Authorization = %q: the client's key must not be forwarded", auth)
	}
	l := f.mem.NextLog(t)
	if l.StatusCode != 200 || l.Model != "mini" || l.UpstreamModel != "gpt-4o-mini" || l.ChannelID != 1 || l.GroupID != "acme" || l.TokenID != 7 {
		t.Errorf("log = %+v", l)
	}
	if l.Usage.PromptTokens != resp.Usage.PromptTokens || l.Usage.CompletionTokens != resp.Usage.CompletionTokens || l.UsageCounted {
		t.Errorf("log usage = %+v, provider reported %+v", l.Usage, resp.Usage)
	}
	if !l.Unpriced || l.Amount != 0 {
		t.Errorf("model without config: unpriced=%v amount=%d", l.Unpriced, l.Amount)
	}
	if l.ClientIP != "127.0.0.1" || l.RequestID == "" || l.Latency <= 0 || l.TTFB <= 0 || l.TTFB > l.Latency {
		t.Errorf("log ip=%q id=%q ttfb=%v latency=%v", l.ClientIP, l.RequestID, l.TTFB, l.Latency)
	}

	// A priced model is billed by its config.
	resp, err = f.client.Chat.Completions.New(context.Background(), chatParams("gpt-4o-mini", "hello there"))
	if err != nil {
		t.Fatal(err)
	}
	l = f.mem.NextLog(t)
	want := f.configs["gpt-4o-mini"].Pricing.Cost(l.Usage, "", l.CreatedAt).Total()
	if l.Unpriced || l.Amount != want || want == 0 {
		t.Errorf("amount = %d, want %d (unpriced %v)", l.Amount, want, l.Unpriced)
	}
}

// readSSE returns the data payloads of a stream, in order.
func readSSE(tb testing.TB, body io.Reader) []string {
	tb.Helper()
	var out []string
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func postJSON(tb testing.TB, url, body string, header ...string) *http.Response {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestStreamUsageChoice(t *testing.T) {
	f := newFixture(t, nil, relaytest.WithChunks(5))
	for _, wants := range []bool{false, true} {
		t.Run(map[bool]string{false: "client did not ask for usage", true: "client asked for usage"}[wants], func(t *testing.T) {
			body := `{"model":"mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			if wants {
				body = `{"model":"mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
			}
			resp := postJSON(t, f.srv.URL+"/v1/chat/completions", body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			events := readSSE(t, resp.Body)
			if events[len(events)-1] != "[DONE]" {
				t.Fatalf("stream does not end with [DONE]: %q", events)
			}
			var usageChunks, content int
			for _, e := range events[:len(events)-1] {
				var c struct {
					Model   string            `json:"model"`
					Choices []json.RawMessage `json:"choices"`
					Usage   *openai.CompletionUsage
				}
				if err := json.Unmarshal([]byte(e), &c); err != nil {
					t.Fatalf("event %q: %v", e, err)
				}
				if c.Model != "mini" {
					t.Fatalf("chunk model %q, want mini", c.Model)
				}
				if c.Usage != nil {
					usageChunks++
				}
				content += len(c.Choices)
			}
			if wants && usageChunks != 1 || !wants && usageChunks != 0 {
				t.Errorf("usage chunks = %d, want %v", usageChunks, wants)
			}
			if content != 7 { // role chunk, 5 content chunks, finish chunk
				t.Errorf("chunks with choices = %d, want 7", content)
			}
			reqs := f.provider.Requests()
			if so, _ := reqs[len(reqs)-1].JSON["stream_options"].(map[string]any); so["include_usage"] != true {
				t.Errorf("upstream stream_options = %v: usage must always be asked for", so)
			}
			l := f.mem.NextLog(t)
			if !l.Stream || l.StatusCode != 200 || l.Usage.CompletionTokens == 0 || l.UsageCounted {
				t.Errorf("log = %+v", l)
			}
		})
	}
}

func TestStreamWithSDK(t *testing.T) {
	f := newFixture(t, nil, relaytest.WithChunks(4))
	p := chatParams("gpt-4o-mini", "stream please")
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	st := f.client.Chat.Completions.NewStreaming(context.Background(), p)
	var acc openai.ChatCompletionAccumulator
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(acc.Choices[0].Message.Content, "stream please") || acc.Usage.TotalTokens == 0 {
		t.Fatalf("accumulated %q, usage %+v", acc.Choices[0].Message.Content, acc.Usage)
	}
	l := f.mem.NextLog(t)
	if l.Usage.TotalTokens != acc.Usage.TotalTokens {
		t.Errorf("logged %d tokens, client saw %d", l.Usage.TotalTokens, acc.Usage.TotalTokens)
	}
}

func TestUsageCountedWhenProviderReportsNone(t *testing.T) {
	f := newFixture(t, nil)
	for _, stream := range []bool{false, true} {
		body := `{"model":"` + relaytest.ModelNoUsage + `","stream":` + map[bool]string{false: "false", true: "true"}[stream] + `,"messages":[{"role":"user","content":"count me please"}]}`
		resp := postJSON(t, f.srv.URL+"/v1/chat/completions", body)
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		l := f.mem.NextLog(t)
		if !l.UsageCounted || l.Usage.PromptTokens == 0 || l.Usage.CompletionTokens == 0 || l.Usage.TotalTokens != l.Usage.PromptTokens+l.Usage.CompletionTokens {
			t.Errorf("stream=%v: log usage %+v counted=%v", stream, l.Usage, l.UsageCounted)
		}
	}
}

func TestEmbeddingsAndCompletions(t *testing.T) {
	f := newFixture(t, nil)
	emb, err := f.client.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) != 2 || len(emb.Data[0].Embedding) == 0 {
		t.Fatalf("embeddings: %+v", emb.Data)
	}
	if l := f.mem.NextLog(t); l.Mode != aiproxy.ModeEmbeddings || l.Usage.PromptTokens != emb.Usage.PromptTokens || l.Endpoint != "/v1/embeddings" {
		t.Errorf("log %+v", l)
	}
	c, err := f.client.Completions.New(context.Background(), openai.CompletionNewParams{
		Model:  "gpt-3.5-turbo-instruct",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Choices[0].Text == "" {
		t.Fatal("empty completion")
	}
	if l := f.mem.NextLog(t); l.Mode != aiproxy.ModeCompletions || l.Usage.CompletionTokens != c.Usage.CompletionTokens {
		t.Errorf("log %+v", l)
	}
}

func TestModels(t *testing.T) {
	f := newFixture(t, nil)
	f.token.Models = []string{"gpt-4o-mini", "org/model-with/slash"}
	page, err := f.client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "gpt-4o-mini,org/model-with/slash" {
		t.Errorf("models = %v, want only the token's models", ids)
	}
	m, err := f.client.Models.Get(context.Background(), "org/model-with/slash")
	if err != nil || m.ID != "org/model-with/slash" || m.OwnedBy != "openai" {
		t.Errorf("get model = %+v, %v", m, err)
	}
	_, err = f.client.Models.Get(context.Background(), "mini")
	if apiErr := asAPIError(t, err); apiErr.StatusCode != 404 {
		t.Errorf("model the token may not use: status %d, want 404", apiErr.StatusCode)
	}
}

func asAPIError(tb testing.TB, err error) *openai.Error {
	tb.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		tb.Fatalf("error = %v, want an OpenAI API error", err)
	}
	return apiErr
}

func TestErrors(t *testing.T) {
	f := newFixture(t, &relay.Server{MaxBodyBytes: 1 << 10, StreamIdleTimeout: time.Second,
		Client: &http.Client{Transport: relay.NewTransport(relay.TransportOptions{HeaderTimeout: 300 * time.Millisecond})}})
	f.token.Models = []string{"gpt-4o-mini", "mini", "text-embedding-3-small", relaytest.ModelBadRequest, relaytest.ModelHang, relaytest.ModelCut, "fake-error-500", "fake-error-429"}
	f.mem.AddChannel(&aiproxy.Channel{ID: 2, Type: openaiad.Type, BaseURL: f.upstream.URL + "/v1", Key: "sk-upstream", Models: []string{"fake-error-500", "fake-error-429", "fake-error-401"}, Enabled: true})
	big := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 2000) + `"}]}`
	tests := []struct {
		name    string
		body    string
		header  []string
		status  int
		code    string
		logged  bool
		message string
	}{
		{"no key", `{"model":"gpt-4o-mini"}`, []string{"Authorization", ""}, 401, "invalid_api_key", false, "API key"},
		{"wrong key", `{"model":"gpt-4o-mini"}`, []string{"Authorization", "Bearer sk-nope"}, 401, "invalid_api_key", false, ""},
		{"malformed JSON", `{"model":`, nil, 400, "invalid_request", true, "JSON"},
		{"not an object", `[1,2]`, nil, 400, "invalid_request", true, "object"},
		{"missing model", `{"messages":[]}`, nil, 400, "invalid_model", true, "model"},
		{"unknown model", `{"model":"nope"}`, nil, 404, "model_not_found", true, "nope"},
		{"model not allowed", `{"model":"gpt-3.5-turbo-instruct"}`, nil, 403, "model_not_allowed", true, ""},
		{"body too large", big, nil, 413, "request_too_large", true, ""},
		{"provider rejects the request", `{"model":"` + relaytest.ModelBadRequest + `"}`, nil, 400, "invalid_value", true, ""},
		{"provider fails on every channel", `{"model":"fake-error-500"}`, nil, 502, "upstream_error", true, ""},
		{"provider rate limits", `{"model":"fake-error-429"}`, nil, 429, "rate_limit_exceeded", true, ""},
		{"provider hangs", `{"model":"` + relaytest.ModelHang + `"}`, nil, 504, "upstream_timeout", true, ""},
	}
	logged := 0
	for _, tt := range tests {
		if tt.logged {
			logged++
		}
		t.Run(tt.name, func(t *testing.T) {
			resp := postJSON(t, f.srv.URL+"/v1/chat/completions", tt.body, tt.header...)
			var e struct {
				Error struct{ Message, Type, Code string }
			}
			b, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(b, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
				t.Fatalf("body is not an OpenAI error: %s", b)
			}
			if resp.StatusCode != tt.status || e.Error.Code != tt.code {
				t.Fatalf("status %d code %q, want %d %q: %s", resp.StatusCode, e.Error.Code, tt.status, tt.code, b)
			}
			if !strings.Contains(e.Error.Message, tt.message) {
				t.Errorf("message %q does not mention %q", e.Error.Message, tt.message)
			}
			if strings.Contains(string(b), "sk-upstream") || strings.Contains(string(b), "goroutine") {
				t.Fatalf("error leaks internals: %s", b)
			}
			if tt.status == 429 && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			if tt.logged {
				if l := f.mem.NextLog(t); l.StatusCode != tt.status || l.Error == "" {
					t.Errorf("log status %d error %q", l.StatusCode, l.Error)
				}
			}
		})
	}
	if n := len(f.mem.Logs()); n != logged {
		t.Fatalf("%d logs, want %d: a request without a valid key was logged", n, logged)
	}
}

func TestRetryOnAnotherChannel(t *testing.T) {
	f := newFixture(t, nil)
	// The preferred channel points at a provider that is down; the request
	// must land on the second one and be logged with it.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	f.mem.SetChannels(
		&aiproxy.Channel{ID: 10, Type: openaiad.Type, BaseURL: dead.URL + "/v1", Models: []string{"gpt-4o-mini"}, Priority: 5, Enabled: true},
		&aiproxy.Channel{ID: 11, Type: openaiad.Type, BaseURL: f.upstream.URL + "/v1", Key: "sk-upstream", Models: []string{"gpt-4o-mini"}, Enabled: true},
	)
	if _, err := f.client.Chat.Completions.New(context.Background(), chatParams("gpt-4o-mini", "hi")); err != nil {
		t.Fatal(err)
	}
	if l := f.mem.NextLog(t); l.ChannelID != 11 || l.StatusCode != 200 {
		t.Errorf("log channel %d status %d, want 11 200", l.ChannelID, l.StatusCode)
	}
}

func TestStreamBrokenOrIdle(t *testing.T) {
	f := newFixture(t, &relay.Server{StreamIdleTimeout: 200 * time.Millisecond})
	for _, tt := range []struct {
		model  string
		status int
	}{{relaytest.ModelCut, 502}, {relaytest.ModelHold, 504}} {
		t.Run(tt.model, func(t *testing.T) {
			resp := postJSON(t, f.srv.URL+"/v1/chat/completions", `{"model":"`+tt.model+`","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			events := readSSE(t, resp.Body)
			last := events[len(events)-1]
			if !strings.Contains(last, `"error"`) {
				t.Fatalf("the client is not told the stream broke off; last event %q", last)
			}
			l := f.mem.NextLog(t)
			if l.StatusCode != tt.status || l.Error == "" || l.Usage.PromptTokens == 0 || tt.model == relaytest.ModelCut && l.Usage.CompletionTokens == 0 {
				t.Errorf("log status %d error %q usage %+v", l.StatusCode, l.Error, l.Usage)
			}
		})
	}
}

func TestClientDisconnectCancelsUpstreamAndIsLogged(t *testing.T) {
	f := newFixture(t, nil, relaytest.WithReply(strings.Repeat("word ", 100)), relaytest.WithChunks(100), relaytest.WithChunkDelay(20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"tell me a long story"}]}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Read the role chunk and three content chunks, then hang up.
	br := bufio.NewReader(resp.Body)
	for events := 0; events < 4; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") {
			events++
		}
	}
	cancel()
	resp.Body.Close()
	l := f.mem.NextLog(t)
	if l.StatusCode != relay.StatusClientClosed || l.Usage.CompletionTokens < 3 || !l.UsageCounted || l.Usage.PromptTokens == 0 {
		t.Errorf("log status %d usage %+v counted %v: tokens generated so far must be logged", l.StatusCode, l.Usage, l.UsageCounted)
	}
	f.provider.WaitActive(t, 0)
	if f.provider.Cancelled() != 1 {
		t.Errorf("provider saw %d cancelled requests, want 1", f.provider.Cancelled())
	}
}

func TestKeyHeaders(t *testing.T) {
	f := newFixture(t, nil)
	for _, h := range []string{"X-Api-Key", "X-Goog-Api-Key"} {
		resp := postJSON(t, f.srv.URL+"/v1/embeddings", `{"model":"text-embedding-3-small","input":"x"}`, "Authorization", "", h, testKey)
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			t.Errorf("%s: status %d: %s", h, resp.StatusCode, b)
		}
		f.mem.NextLog(t)
	}
}

func TestEarlyAnswerIsNotCutShort(t *testing.T) {
	for _, mode := range []relaytest.EarlyMode{relaytest.EarlyDrain, relaytest.EarlyIgnore} {
		f := newFixture(t, nil, relaytest.WithEarlyAnswer(mode), relaytest.WithChunks(20))
		big := bytes.Repeat([]byte("lorem "), 1<<20/6*2) // 2 MiB, well past what net/http discards for an unread body
		body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"` + string(big) + `"}]}`
		resp := postJSON(t, f.srv.URL+"/v1/chat/completions", body)
		events := readSSE(t, resp.Body)
		if len(events) < 22 || events[len(events)-1] != "[DONE]" {
			t.Fatalf("mode %d: stream cut short: %d events, last %q", mode, len(events), events[len(events)-1])
		}
		f.mem.NextLog(t)
	}
}

func TestSaveBodies(t *testing.T) {
	f := newFixture(t, &relay.Server{SaveBodies: true, MaxSavedBody: 100})
	resp := postJSON(t, f.srv.URL+"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"keep me"}]}`)
	io.Copy(io.Discard, resp.Body)
	l := f.mem.NextLog(t)
	if !strings.Contains(l.RequestBody, "keep me") || !strings.Contains(l.ResponseBody, "chat.completion") {
		t.Errorf("saved bodies: request %q response %q", l.RequestBody, l.ResponseBody)
	}
	if len(l.ResponseBody) != 100 || !l.ResponseBodyTruncated || l.RequestBodyTruncated {
		t.Errorf("saved response body: %d bytes, truncated %v (request's %v); want 100, true (false)", len(l.ResponseBody), l.ResponseBodyTruncated, l.RequestBodyTruncated)
	}
	resp = postJSON(t, f.srv.URL+"/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"stream me"}]}`)
	io.Copy(io.Discard, resp.Body)
	if l := f.mem.NextLog(t); !strings.Contains(l.ResponseBody, "stream me") {
		t.Errorf("saved stream text %q", l.ResponseBody)
	}

	// Off by default.
	f = newFixture(t, nil)
	resp = postJSON(t, f.srv.URL+"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"forget me"}]}`)
	io.Copy(io.Discard, resp.Body)
	if l := f.mem.NextLog(t); l.RequestBody != "" || l.ResponseBody != "" {
		t.Errorf("bodies saved without SaveBodies")
	}

	// Except for a failed request: its bodies are kept, the request's cut
	// at MaxSavedBody, and no header (the key) with them.
	f = newFixture(t, &relay.Server{MaxSavedBody: 64})
	resp = postJSON(t, f.srv.URL+"/v1/chat/completions", `{"model":"`+relaytest.ModelBadRequest+`","messages":[{"role":"user","content":"why did I fail, and what did I say? é"}]}`)
	io.Copy(io.Discard, resp.Body)
	l = f.mem.NextLog(t)
	if l.Error == "" || !strings.HasPrefix(l.RequestBody, `{"model":"`) || len(l.RequestBody) > 64 || !l.RequestBodyTruncated {
		t.Errorf("failed request: error %q, request body %q (truncated %v)", l.Error, l.RequestBody, l.RequestBodyTruncated)
	}
	if !strings.Contains(l.ResponseBody, "error") || len(l.ResponseBody) > 64 {
		t.Errorf("failed request: response body %q (truncated %v)", l.ResponseBody, l.ResponseBodyTruncated)
	}
	if strings.Contains(l.RequestBody+l.ResponseBody, testKey) {
		t.Errorf("the key is in the saved bodies")
	}

	// And for a model whose config asks for it.
	f = newFixture(t, nil)
	f.configs["gpt-4o-mini"].SaveDetail = true
	f.mem.SetModelConfig(f.configs["gpt-4o-mini"])
	resp = postJSON(t, f.srv.URL+"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"the config keeps me"}]}`)
	io.Copy(io.Discard, resp.Body)
	if l := f.mem.NextLog(t); !strings.Contains(l.RequestBody, "the config keeps me") || l.ResponseBody == "" {
		t.Errorf("model config's SaveDetail: request %q response %q", l.RequestBody, l.ResponseBody)
	}
}

// TestLogUserAndUpstreamID records, end to end, the provider's request id
// and the request's end user and metadata, from OpenAI and Anthropic
// clients.
func TestLogUserAndUpstreamID(t *testing.T) {
	f := newFixture(t, nil)
	for _, tt := range []struct {
		name, path, body string
		header           []string
		user, metadata   string
	}{
		{"openai", "/v1/chat/completions",
			`{"model":"gpt-4o-mini","user":"user-42","metadata":{"team":"search","ticket":"T-1"},"messages":[{"role":"user","content":"hi"}]}`,
			nil, "user-42", `{"team":"search","ticket":"T-1"}`},
		{"openai stream", "/v1/chat/completions",
			`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"user":"u\u00e9"}`,
			nil, "ué", ""},
		{"anthropic", "/v1/messages",
			`{"model":"gpt-4o-mini","max_tokens":16,"metadata":{"user_id":"anthropic-user"},"messages":[{"role":"user","content":"hi"}]}`,
			[]string{"Anthropic-Version", "2023-06-01", "X-Api-Key", testKey}, "anthropic-user", `{"user_id":"anthropic-user"}`},
		{"metadata too big", "/v1/chat/completions",
			`{"model":"gpt-4o-mini","metadata":{"a":"` + strings.Repeat("x", 3000) + `","b":"` + strings.Repeat("y", 3000) + `","c":"kept"},"messages":[{"role":"user","content":"hi"}]}`,
			nil, "", `{"a":"` + strings.Repeat("x", 3000) + `","c":"kept"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, f.srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+testKey)
			for i := 0; i < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			l := f.mem.NextLog(t)
			if !strings.HasPrefix(l.UpstreamRequestID, "req_") || l.UpstreamRequestID == l.RequestID {
				t.Errorf("upstream request id %q (gateway's %q)", l.UpstreamRequestID, l.RequestID)
			}
			if l.User != tt.user || l.Metadata != tt.metadata {
				t.Errorf("user %q, metadata %q; want %q, %q", l.User, l.Metadata, tt.user, tt.metadata)
			}
		})
	}
}

// Paths and methods the relay does not serve are answered in the
// protocol the request speaks.
func TestUnknownRoutes(t *testing.T) {
	f := newFixture(t, nil)
	for _, tt := range []struct {
		method, path string
		header       []string
		status       int
		want         string // a JSON path of the protocol's error shape and its value
		value        string
	}{
		{http.MethodGet, "/v1/chat/completions", nil, 405, "error.code", "method_not_allowed"},
		{http.MethodPost, "/v1/models", nil, 405, "error.code", "method_not_allowed"},
		{http.MethodPost, "/v1/audio/unknown", nil, 404, "error.code", "unknown_url"},
		{http.MethodGet, "/v1/messages", nil, 405, "error.type", "invalid_request_error"},
		{http.MethodPost, "/v1/messages/batches", []string{"anthropic-version", "2023-06-01"}, 404, "type", "error"},
		{http.MethodPost, "/v1/messages/batches", []string{"anthropic-version", "2023-06-01"}, 404, "error.type", "not_found_error"},
		{http.MethodPost, "/v1beta/cachedContents", nil, 404, "error.status", "NOT_FOUND"},
		{http.MethodPost, "/v1/files", []string{"x-goog-api-key", "k"}, 404, "error.status", "NOT_FOUND"},
		{http.MethodDelete, "/v1beta/models", nil, 405, "error.status", "INVALID_ARGUMENT"},
	} {
		req, _ := http.NewRequest(tt.method, f.srv.URL+tt.path, nil)
		for i := 0; i+1 < len(tt.header); i += 2 {
			req.Header.Set(tt.header[i], tt.header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := gjson.GetBytes(b, tt.want).String(); resp.StatusCode != tt.status || got != tt.value {
			t.Errorf("%s %s: %d %s, want %d and %s = %q", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.want, tt.value)
		}
	}
}

// The token's rules, each refused with its own status and code.
func TestTokenRules(t *testing.T) {
	f := newFixture(t, nil)
	past := time.Now().Add(-time.Hour)
	tests := []struct {
		name   string
		change func(*aiproxy.Token, *aiproxy.Group)
		status int
		code   string
		logged bool
	}{
		{"disabled token", func(t *aiproxy.Token, _ *aiproxy.Group) { t.Enabled = false }, 401, aiproxy.ReasonTokenDisabled, false},
		{"expired token", func(t *aiproxy.Token, _ *aiproxy.Group) { t.ExpiresAt = &past }, 401, aiproxy.ReasonTokenExpired, false},
		{"refused address", func(t *aiproxy.Token, _ *aiproxy.Group) { t.Subnets = []string{"10.0.0.0/8"} }, 403, aiproxy.ReasonIPNotAllowed, false},
		{"disabled group", func(_ *aiproxy.Token, g *aiproxy.Group) { g.Enabled = false }, 403, aiproxy.ReasonGroupDisabled, false},
		{"model not allowed", func(t *aiproxy.Token, _ *aiproxy.Group) { t.Models = []string{"mini"} }, 403, aiproxy.ReasonModelNotAllowed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := *f.token
			grp := *f.group
			tt.change(&tok, &grp)
			f.mem.AddToken(testKey, &tok, &grp)
			defer f.mem.AddToken(testKey, f.token, f.group)
			before := len(f.mem.Logs())
			_, err := f.client.Chat.Completions.New(context.Background(), chatParams("gpt-4o-mini", "hi"))
			apiErr := asAPIError(t, err)
			if apiErr.StatusCode != tt.status || apiErr.Code != tt.code {
				t.Fatalf("status %d code %q, want %d %q", apiErr.StatusCode, apiErr.Code, tt.status, tt.code)
			}
			if tt.logged {
				if l := f.mem.NextLog(t); l.StatusCode != tt.status {
					t.Errorf("log status %d", l.StatusCode)
				}
			} else if n := len(f.mem.Logs()); n != before {
				t.Errorf("a refused key was logged")
			}
		})
	}
}

// A channel failing with 5xx is left for the next one, and the log names
// the channel that answered, with every attempt recorded.
func TestServerErrorThenSuccess(t *testing.T) {
	f := newFixture(t, nil)
	f.mem.SetChannels(
		&aiproxy.Channel{ID: 20, Type: openaiad.Type, BaseURL: f.upstream.URL + "/v1", Key: "sk-upstream", Models: []string{"m"}, ModelMapping: []aiproxy.ModelMapping{{From: "m", To: relaytest.ModelServerError}}, Priority: 9, Enabled: true},
		&aiproxy.Channel{ID: 21, Type: openaiad.Type, BaseURL: f.upstream.URL + "/v1", Key: "sk-upstream", Models: []string{"m"}, ModelMapping: []aiproxy.ModelMapping{{From: "m", To: relaytest.ModelUnavailable}}, Priority: 8, Enabled: true},
		&aiproxy.Channel{ID: 22, Type: openaiad.Type, BaseURL: f.upstream.URL + "/v1", Key: "sk-upstream", Models: []string{"m"}, ModelMapping: []aiproxy.ModelMapping{{From: "m", To: "gpt-4o-mini"}}, Priority: 1, Enabled: true},
	)
	resp, err := f.client.Chat.Completions.New(context.Background(), chatParams("m", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "m" || !strings.Contains(resp.Choices[0].Message.Content, "hi") {
		t.Errorf("answer %+v", resp)
	}
	if l := f.mem.NextLog(t); l.ChannelID != 22 || l.StatusCode != 200 || l.UpstreamModel != "gpt-4o-mini" {
		t.Errorf("log channel %d status %d model %q", l.ChannelID, l.StatusCode, l.UpstreamModel)
	}
}

// A compatible server that does not know stream_options refuses it: the
// request is sent again without it, and the channel is remembered.
func TestStreamOptionsRefused(t *testing.T) {
	var mu sync.Mutex
	var withOptions, without int
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if bytes.Contains(b, []byte("stream_options")) {
			withOptions++
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"message":"Unrecognized request argument supplied: stream_options","type":"invalid_request_error","param":null,"code":null}}`)
			return
		}
		without++
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"old\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":null}]}\n\n")
		io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"old\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(up.Close)
	f := newFixture(t, nil)
	f.mem.SetChannels(&aiproxy.Channel{ID: 30, Type: openaiad.Type, BaseURL: up.URL, Models: []string{"old"}, Enabled: true})
	for i := range 2 {
		st := f.client.Chat.Completions.NewStreaming(context.Background(), chatParams("old", "hi"))
		var acc openai.ChatCompletionAccumulator
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if err := st.Err(); err != nil || acc.Choices[0].Message.Content != "ok" {
			t.Fatalf("request %d: %v %+v", i, err, acc.Choices)
		}
		if l := f.mem.NextLog(t); l.StatusCode != 200 || !l.UsageCounted {
			t.Errorf("request %d: log %+v", i, l)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if withOptions != 1 || without != 2 {
		t.Errorf("%d requests with stream_options, %d without; want 1 and 2 (the refusal is remembered)", withOptions, without)
	}
}

// blockingLogs holds Record until the test lets it go.
type blockingLogs struct {
	aiproxy.LogRecorder
	release chan struct{}
}

func (b *blockingLogs) Record(l *aiproxy.Log) {
	<-b.release
	b.LogRecorder.Record(l)
}

// TestAnswerBeforeRecord: the client has the whole answer, an error's
// too, while the log is still being recorded.
func TestAnswerBeforeRecord(t *testing.T) {
	h := &relay.Server{}
	f := newFixture(t, h)
	logs := &blockingLogs{LogRecorder: f.mem, release: make(chan struct{})}
	h.Logs = logs // before any request
	for _, model := range []string{"gpt-4o-mini", relaytest.ModelBadRequest} {
		done := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/chat/completions",
				strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			close(logs.release) // let the handler end, so the test can
			t.Fatalf("%s: the answer waits for the log to be recorded", model)
		}
		logs.release <- struct{}{}
		f.mem.NextLog(t)
	}
}
