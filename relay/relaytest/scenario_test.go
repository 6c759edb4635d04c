package relaytest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"google.golang.org/genai"

	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/relay/relaytest/sdk"
)

// This file runs the same scenarios against the three fakes, each through
// its provider's official SDK, and checks that they answer the same thing.

// fakeProvider is what every fake offers.
type fakeProvider interface {
	Requests() []relaytest.Request
	Active() int
	Cancelled() int64
	WaitActive(tb testing.TB, n int)
	Close()
}

var (
	_ fakeProvider = (*relaytest.Provider)(nil)
	_ fakeProvider = (*relaytest.AnthropicProvider)(nil)
	_ fakeProvider = (*relaytest.GeminiProvider)(nil)
)

// kind is one fake and its SDK.
type kind struct {
	name  string
	start func(tb testing.TB, opts ...relaytest.Option) (*httptest.Server, fakeProvider)
	// base is the URL an SDK client of the kind takes for srv.
	base func(srv *httptest.Server) string
	// post builds a request whose user says "one two" to model, with the
	// key, streamed (with usage) or not.
	post func(ctx context.Context, srv *httptest.Server, model string, stream bool) *http.Request
}

func newRequest(ctx context.Context, url, body string, header ...string) *http.Request {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

var kinds = []kind{
	{"openai", func(tb testing.TB, opts ...relaytest.Option) (*httptest.Server, fakeProvider) {
		p, srv := relaytest.Start(tb, append([]relaytest.Option{relaytest.WithKey(testKey)}, opts...)...)
		return srv, p
	}, func(srv *httptest.Server) string { return srv.URL + "/v1" }, func(ctx context.Context, srv *httptest.Server, model string, stream bool) *http.Request {
		body := `{"model":` + strconv.Quote(model) + `,"stream":` + strconv.FormatBool(stream) + `,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two"}]}`
		if !stream {
			body = `{"model":` + strconv.Quote(model) + `,"messages":[{"role":"user","content":"one two"}]}`
		}
		return newRequest(ctx, srv.URL+"/v1/chat/completions", body, "Authorization", "Bearer "+testKey)
	}},
	{"anthropic", func(tb testing.TB, opts ...relaytest.Option) (*httptest.Server, fakeProvider) {
		p, srv := relaytest.StartAnthropic(tb, append([]relaytest.Option{relaytest.WithKey(testKey)}, opts...)...)
		return srv, p
	}, func(srv *httptest.Server) string { return srv.URL }, func(ctx context.Context, srv *httptest.Server, model string, stream bool) *http.Request {
		body := `{"model":` + strconv.Quote(model) + `,"max_tokens":100,"stream":` + strconv.FormatBool(stream) + `,"messages":[{"role":"user","content":"one two"}]}`
		return newRequest(ctx, srv.URL+"/v1/messages", body, "X-Api-Key", testKey, "Anthropic-Version", "2023-06-01")
	}},
	{"gemini", func(tb testing.TB, opts ...relaytest.Option) (*httptest.Server, fakeProvider) {
		p, srv := relaytest.StartGemini(tb, append([]relaytest.Option{relaytest.WithKey(testKey)}, opts...)...)
		return srv, p
	}, func(srv *httptest.Server) string { return srv.URL }, func(ctx context.Context, srv *httptest.Server, model string, stream bool) *http.Request {
		url := srv.URL + "/v1beta/models/" + model + ":generateContent"
		if stream {
			url = srv.URL + "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
		}
		return newRequest(ctx, url, `{"contents":[{"role":"user","parts":[{"text":"one two"}]}]}`, "X-Goog-Api-Key", testKey)
	}},
}

// newAnthropicClient returns an SDK client for srv that never retries.
func newAnthropicClient(tb testing.TB, srv *httptest.Server, key string) anthropic.Client {
	tb.Helper()
	return anthropic.NewClient(
		aoption.WithBaseURL(srv.URL),
		aoption.WithAPIKey(key),
		aoption.WithMaxRetries(0),
		aoption.WithHTTPClient(srv.Client()),
	)
}

// newGeminiClient returns an SDK client for srv.
func newGeminiClient(tb testing.TB, srv *httptest.Server, key string) *genai.Client {
	tb.Helper()
	c, err := genai.NewClient(tb.Context(), &genai.ClientConfig{
		APIKey:      key,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  srv.Client(),
		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// weatherCalls are the calls ModelTools makes.
var weatherCalls = []sdk.Call{
	{Name: relaytest.WeatherTool, Args: map[string]any{"city": "Paris", "unit": "celsius"}},
	{Name: relaytest.TimeTool, Args: map[string]any{"timezone": "Europe/Paris"}},
}

// answer is what a test expects of an answer: sdk.Answer without ids.
type answer struct {
	text, reasoning string
	calls           []sdk.Call
	finish          string
	prompt          int64
	completion      int64
	cached          int64
	reasoningTokens int64
}

func checkAnswer(tb testing.TB, got sdk.Answer, want answer) {
	tb.Helper()
	callsEqual := slices.EqualFunc(got.Calls, want.calls, func(a, b sdk.Call) bool {
		ga, _ := json.Marshal(a.Args)
		wa, _ := json.Marshal(b.Args)
		return a.Name == b.Name && string(ga) == string(wa)
	})
	if got.Text != want.text || got.Reasoning != want.reasoning || got.Finish != want.finish || !callsEqual {
		tb.Errorf("answer text %q, reasoning %q, finish %q, calls %v;\nwant text %q, reasoning %q, finish %q, calls %v", got.Text, got.Reasoning, got.Finish, got.Calls, want.text, want.reasoning, want.finish, want.calls)
	}
	if got.Prompt != want.prompt || got.Completion != want.completion || got.Cached != want.cached || got.ReasoningTokens != want.reasoningTokens {
		tb.Errorf("usage prompt %d, completion %d, cached %d, reasoning %d; want %d, %d, %d, %d", got.Prompt, got.Completion, got.Cached, got.ReasoningTokens, want.prompt, want.completion, want.cached, want.reasoningTokens)
	}
}

// TestScenarios runs every scenario against every fake, streamed and not,
// and checks that the three answer the same.
func TestScenarios(t *testing.T) {
	type step struct {
		text    string
		media   int
		results []string
		want    answer
	}
	for _, sc := range []struct {
		name  string
		opts  []relaytest.Option
		cfg   sdk.Config
		steps []step
	}{
		{"plain", nil, sdk.Config{Model: "some-model", System: "be brief"}, []step{
			{text: "hi there", want: answer{text: "Hello! You said: hi there", finish: "stop", prompt: 4, completion: 5}},
		}},
		{"multi-turn", nil, sdk.Config{Model: "some-model"}, []step{
			{text: "one", want: answer{text: "Hello! You said: one", finish: "stop", prompt: 1, completion: 4}},
			{text: "two", want: answer{text: "Hello! You said: two", finish: "stop", prompt: 1 + 4 + 1, completion: 4}},
		}},
		{"media", nil, sdk.Config{Model: "some-model"}, []step{
			{text: "look", media: 2, want: answer{text: "Hello! You said: look (+2 media)", finish: "stop", prompt: 1, completion: 6}},
		}},
		{"max tokens", nil, sdk.Config{Model: "some-model", MaxTokens: 3}, []step{
			{text: "one two three", want: answer{text: "Hello! You said:", finish: "length", prompt: 3, completion: 3}},
		}},
		{"cached tokens", []relaytest.Option{relaytest.WithCachedTokens(2)}, sdk.Config{Model: "some-model", System: "be brief"}, []step{
			{text: "hi there", want: answer{text: "Hello! You said: hi there", finish: "stop", prompt: 4, completion: 5, cached: 2}},
		}},
		{"fixed reply", []relaytest.Option{relaytest.WithReply("fixed words here")}, sdk.Config{Model: "some-model"}, []step{
			{text: "hi", want: answer{text: "fixed words here", finish: "stop", prompt: 1, completion: 3}},
		}},
		{"tools undeclared", nil, sdk.Config{Model: relaytest.ModelTools}, []step{
			{text: "weather?", want: answer{text: "Hello! You said: weather?", finish: "stop", prompt: 1, completion: 4}},
		}},
		{"tool round trip", nil, sdk.Config{Model: relaytest.ModelTools + "-x", Tools: true}, []step{
			{text: "weather?", want: answer{calls: weatherCalls, finish: "tools", prompt: 1, completion: 4}},
			{results: []string{"18C sunny", "14:00"}, want: answer{text: "Results: 18C sunny; 14:00", finish: "stop", prompt: 1 + 3, completion: 4}},
		}},
		{"reasoning", nil, sdk.Config{Model: relaytest.ModelReasoning, System: "be brief"}, []step{
			{text: "hi", want: answer{reasoning: "Thinking about: hi", text: "Hello! You said: hi", finish: "stop", prompt: 3, completion: 3 + 4, reasoningTokens: 3}},
			{text: "again", want: answer{reasoning: "Thinking about: again", text: "Hello! You said: again", finish: "stop", prompt: 3 + 4 + 1, completion: 3 + 4, reasoningTokens: 3}},
		}},
		{"reasoning cut", nil, sdk.Config{Model: relaytest.ModelReasoning, MaxTokens: 4}, []step{
			{text: "hi", want: answer{reasoning: "Thinking about: hi", text: "Hello!", finish: "length", prompt: 1, completion: 4, reasoningTokens: 3}},
		}},
		{"reasoning tool round trip", nil, sdk.Config{Model: relaytest.ModelReasoningTools, Tools: true}, []step{
			{text: "weather?", want: answer{reasoning: "Thinking about: weather?", calls: weatherCalls, finish: "tools", prompt: 1, completion: 3 + 4, reasoningTokens: 3}},
			{results: []string{"18C", "14:00"}, want: answer{reasoning: "Thinking about: weather?", text: "Results: 18C; 14:00", finish: "stop", prompt: 1 + 2, completion: 3 + 3, reasoningTokens: 3}},
		}},
	} {
		for _, k := range kinds {
			for _, stream := range []bool{false, true} {
				name := k.name
				if stream {
					name += "/stream"
				}
				t.Run(sc.name+"/"+name, func(t *testing.T) {
					srv, p := k.start(t, sc.opts...)
					cfg := sc.cfg
					cfg.Stream = stream
					cfg.Reasoning = strings.HasPrefix(cfg.Model, relaytest.ModelReasoning)
					s := sdk.Open(k.name, k.base(srv), testKey, srv.Client(), cfg)
					for i, st := range sc.steps {
						got, err := s.Turn(t.Context(), st.text, st.media, st.results)
						if err != nil {
							t.Fatalf("step %d: %v", i, err)
						}
						want := st.want
						if k.name == "anthropic" {
							// Anthropic reports no reasoning tokens
							// apart: they are in output_tokens.
							want.reasoningTokens = int64(relaytest.Tokens(got.Reasoning))
						}
						checkAnswer(t, got, want)
						conv := p.Requests()[i].Conversation
						if conv == nil {
							t.Fatalf("step %d: no conversation recorded", i)
						}
						said := ""
						for _, prev := range sc.steps[:i+1] {
							if prev.text != "" {
								said = prev.text
							}
						}
						if conv.Said != said {
							t.Errorf("step %d: said %q, want %q", i, conv.Said, said)
						}
						if conv.Stream != stream || conv.System != cfg.System || conv.Media != st.media || !slices.Equal(conv.ToolResults, st.results) || conv.PromptTokens != want.prompt {
							t.Errorf("step %d: conversation %+v", i, conv)
						}
					}
				})
			}
		}
	}
}

// do sends req and returns the response with its whole body.
func do(tb testing.TB, srv *httptest.Server, req *http.Request) (*http.Response, []byte) {
	tb.Helper()
	res, err := srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return res, body
}

// errorOf decodes an error body in the protocol of kind k: its type (or
// Google's status) and message, and, for Gemini, the code in the body.
func errorOf(tb testing.TB, k string, body []byte) (typ, message string, code int) {
	tb.Helper()
	var e struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
			Code    any    `json:"code"`
			Status  string `json:"status"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		tb.Fatalf("error body %s: %v", body, err)
	}
	switch k {
	case "anthropic":
		if e.Type != "error" || !strings.HasPrefix(e.RequestID, "req_011C") {
			tb.Errorf("error body %s: want type error and a request_id", body)
		}
		return e.Error.Type, e.Error.Message, 0
	case "gemini":
		code, _ := e.Error.Code.(float64)
		return e.Error.Status, e.Error.Message, int(code)
	}
	return e.Error.Type, e.Error.Message, 0
}

func TestErrorModels(t *testing.T) {
	// want holds, per model, the status and the error type (Google's
	// status) of each kind: openai, anthropic, gemini.
	type want struct {
		status int
		typ    string
	}
	for _, tt := range []struct {
		model string
		want  [3]want
	}{
		{relaytest.ModelBadRequest, [3]want{{400, "invalid_request_error"}, {400, "invalid_request_error"}, {400, "INVALID_ARGUMENT"}}},
		{relaytest.ModelUnauthorized, [3]want{{401, "invalid_request_error"}, {401, "authentication_error"}, {401, "UNAUTHENTICATED"}}},
		{relaytest.ModelForbidden, [3]want{{403, "request_forbidden"}, {403, "permission_error"}, {403, "PERMISSION_DENIED"}}},
		{relaytest.ModelNotFound + "-x", [3]want{{404, "invalid_request_error"}, {404, "not_found_error"}, {404, "NOT_FOUND"}}},
		{relaytest.ModelRateLimited, [3]want{{429, "requests"}, {429, "rate_limit_error"}, {429, "RESOURCE_EXHAUSTED"}}},
		{relaytest.ModelServerError, [3]want{{500, "server_error"}, {500, "api_error"}, {500, "INTERNAL"}}},
		{relaytest.ModelUnavailable, [3]want{{503, "server_error"}, {503, "overloaded_error"}, {503, "UNAVAILABLE"}}},
		{relaytest.ModelOverloaded, [3]want{{503, "server_error"}, {529, "overloaded_error"}, {503, "UNAVAILABLE"}}},
		{relaytest.ModelStreamError, [3]want{{500, "server_error"}, {529, "overloaded_error"}, {503, "UNAVAILABLE"}}}, // not streamed
	} {
		for i, k := range kinds {
			for _, stream := range []bool{false, true} {
				if tt.model == relaytest.ModelStreamError && stream {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/stream=%v", tt.model, k.name, stream), func(t *testing.T) {
					srv, _ := k.start(t)
					res, body := do(t, srv, k.post(t.Context(), srv, tt.model, stream))
					typ, msg, code := errorOf(t, k.name, body)
					w := tt.want[i]
					if res.StatusCode != w.status || typ != w.typ || msg == "" || (k.name == "gemini" && code != w.status) {
						t.Errorf("%d %s; want %d, type %q", res.StatusCode, body, w.status, w.typ)
					}
					if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
						t.Errorf("Content-Type %q", res.Header.Get("Content-Type"))
					}
					if w.status == 429 && k.name != "gemini" && res.Header.Get("Retry-After") != "1" {
						t.Errorf("Retry-After %q", res.Header.Get("Retry-After"))
					}
				})
			}
		}
	}
}

// readEvents returns the events of an event stream body, without their
// framing: the data of each "data:" line.
func readEvents(body []byte) []string {
	var out []string
	for line := range strings.Lines(string(body)) {
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: "); ok {
			out = append(out, data)
		}
	}
	return out
}

func TestStreamErrorModel(t *testing.T) {
	// the last event of each kind's stream: the in-stream error.
	for i, wantErr := range []string{
		`{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}`,
		`{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
	} {
		k := kinds[i]
		t.Run(k.name, func(t *testing.T) {
			srv, p := k.start(t)
			res, body := do(t, srv, k.post(t.Context(), srv, relaytest.ModelStreamError, true))
			events := readEvents(body)
			if res.StatusCode != 200 || len(events) < 2 {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			last := events[len(events)-1]
			if !strings.HasPrefix(last, wantErr) {
				t.Errorf("last event %s, want %s", last, wantErr)
			}
			if !strings.Contains(strings.Join(events, "\n"), `"Hello!"`) {
				t.Errorf("no first piece before the error:\n%s", body)
			}
			for _, end := range []string{"[DONE]", "message_stop", "finishReason"} {
				if strings.Contains(string(body), end) {
					t.Errorf("stream holds its normal end %q:\n%s", end, body)
				}
			}
			p.WaitActive(t, 0)
		})
	}
}

func TestNoUsage(t *testing.T) {
	for _, k := range kinds {
		for _, tt := range []struct {
			name  string
			model string
			opts  []relaytest.Option
		}{
			{"model", relaytest.ModelNoUsage, nil},
			{"option", "some-model", []relaytest.Option{relaytest.WithoutUsage()}},
		} {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/stream=%v", k.name, tt.name, stream), func(t *testing.T) {
					srv, _ := k.start(t, tt.opts...)
					res, body := do(t, srv, k.post(t.Context(), srv, tt.model, stream))
					if res.StatusCode != 200 || !strings.Contains(string(body), "said:") {
						t.Fatalf("%d %s", res.StatusCode, body)
					}
					for _, field := range []string{`"usage"`, `"usageMetadata"`, `_tokens"`} {
						if strings.Contains(string(body), field) {
							t.Errorf("body holds %s:\n%s", field, body)
						}
					}
				})
			}
		}
	}
}

func TestHangHoldCut(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name+"/hang", func(t *testing.T) {
			srv, p := k.start(t)
			for _, stream := range []bool{false, true} {
				ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
				_, err := srv.Client().Do(k.post(ctx, srv, relaytest.ModelHang, stream))
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("stream=%v: error %v, want the deadline", stream, err)
				}
			}
			p.WaitActive(t, 0)
			if n := p.Cancelled(); n != 2 {
				t.Errorf("Cancelled() = %d, want 2", n)
			}
		})
		t.Run(k.name+"/close releases", func(t *testing.T) {
			srv, p := k.start(t)
			done := make(chan error, 1)
			go func() {
				_, err := srv.Client().Do(k.post(t.Context(), srv, relaytest.ModelHang, false))
				done <- err
			}()
			p.WaitActive(t, 1)
			p.Close()
			p.WaitActive(t, 0)
			if err := <-done; err == nil {
				t.Error("no error, want a dropped connection")
			}
			if n := p.Cancelled(); n != 0 {
				t.Errorf("Cancelled() = %d, want 0", n)
			}
		})
		t.Run(k.name+"/hold", func(t *testing.T) {
			srv, p := k.start(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			res, err := srv.Client().Do(k.post(ctx, srv, relaytest.ModelHold, true))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			r := bufio.NewReader(res.Body)
			first, err := r.ReadString('}')
			if err != nil || !strings.Contains(first, "data: ") {
				t.Fatalf("first event %q, %v", first, err)
			}
			p.WaitActive(t, 1)
			cancel()
			p.WaitActive(t, 0)
			if n := p.Cancelled(); n != 1 {
				t.Errorf("Cancelled() = %d, want 1", n)
			}
		})
		t.Run(k.name+"/cut", func(t *testing.T) {
			srv, p := k.start(t)
			for _, stream := range []bool{false, true} {
				res, err := srv.Client().Do(k.post(t.Context(), srv, relaytest.ModelCut, stream))
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err == nil {
					t.Errorf("stream=%v: whole body %s, want a broken connection", stream, body)
				}
				if stream && !strings.Contains(string(body), `"Hello!"`) {
					t.Errorf("stream: %s, want the first piece", body)
				}
			}
			p.WaitActive(t, 0)
			if n := p.Cancelled(); n != 0 {
				t.Errorf("Cancelled() = %d, want 0: the provider cut, not the client", n)
			}
		})
		t.Run(k.name+"/delay", func(t *testing.T) {
			const delay = 20 * time.Millisecond
			srv, p := k.start(t, relaytest.WithChunkDelay(delay))
			start := time.Now()
			res, body := do(t, srv, k.post(t.Context(), srv, "some-model", true))
			// At least the three pieces of "Hello! You said: one two"'s
			// five words wait, whatever the protocol's framing.
			if took := time.Since(start); res.StatusCode != 200 || took < 5*delay {
				t.Errorf("%d after %v, want a stream of at least %v: %s", res.StatusCode, took, 5*delay, body)
			}
			ctx, cancel := context.WithCancel(t.Context())
			res, err := srv.Client().Do(k.post(ctx, srv, "some-model", true))
			if err != nil {
				t.Fatal(err)
			}
			cancel()
			res.Body.Close()
			p.WaitActive(t, 0)
			if n := p.Cancelled(); n != 1 {
				t.Errorf("Cancelled() = %d, want 1", n)
			}
		})
	}
}
