package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// readFixture returns testdata/name.
func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, append(bytes.TrimSpace(got), '\n'), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(got)) {
		tb.Fatalf("output differs from %s (run with -update to accept it):\n%s", path, got)
	}
}

// indent pretty-prints a JSON value, failing on invalid JSON.
func indent(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		tb.Fatalf("not JSON: %v: %s", err, b)
	}
	return out.Bytes()
}

// channel returns an Anthropic channel with cfg as its config.
func channel(cfg string) *aiproxy.Channel {
	ch := &aiproxy.Channel{ID: 7, Type: Type, Key: "sk-ant-channel"}
	if cfg != "" {
		ch.Config = []byte(cfg)
	}
	return ch
}

func TestProvider(t *testing.T) {
	p := Provider()
	if p.Type != Type || p.DefaultBaseURL != DefaultBaseURL || p.Adaptor == nil || p.CheckConfig == nil {
		t.Fatalf("provider %+v", p)
	}
	names := map[string]string{}
	for _, f := range p.Config {
		names[f.Name] = f.Type
		if f.Description == "" {
			t.Errorf("config field %s has no description", f.Name)
		}
	}
	want := map[string]string{"version": "string", "beta": "string list", "maxTokens": "integer", "thinking": "string"}
	for k, v := range want {
		if names[k] != v {
			t.Errorf("config field %s: type %q, want %q", k, names[k], v)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		out   string // "" for nil
		field string // the field of the error, "" for none
	}{
		{"empty", ``, ``, ""},
		{"null", `null`, ``, ""},
		{"empty object", `{}`, ``, ""},
		{"all", ` {"version":" 2023-06-01 ","beta":["a, b","b",""," c "],"maxTokens":4096,"thinking":"budget"} `, `{"version":"2023-06-01","beta":["a","b","c"],"maxTokens":4096,"thinking":"budget"}`, ""},
		{"adaptive", `{"thinking":"adaptive"}`, `{"thinking":"adaptive"}`, ""},
		{"unknown key", `{"version":"2023-06-01","region":"us"}`, ``, "config.region"},
		{"bad version", `{"version":"latest"}`, ``, "config.version"},
		{"version not a string", `{"version":20230601}`, ``, "config.version"},
		{"beta not a list", `{"beta":"a,b"}`, ``, "config.beta"},
		{"beta of numbers", `{"beta":[1]}`, ``, "config.beta"},
		{"maxTokens zero", `{"maxTokens":0}`, ``, "config.maxTokens"},
		{"maxTokens fractional", `{"maxTokens":1.5}`, ``, "config.maxTokens"},
		{"maxTokens string", `{"maxTokens":"8192"}`, ``, "config.maxTokens"},
		{"thinking unknown", `{"thinking":"on"}`, ``, "config.thinking"},
		{"not an object", `[]`, ``, "config"},
		{"not JSON", `{`, ``, "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := checkConfig([]byte(tt.in))
			if tt.field != "" {
				if aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorField(err) != tt.field {
					t.Fatalf("err = %v (field %q), want EINVALID on %s", err, aiproxy.ErrorField(err), tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.out {
				t.Fatalf("normalised %s, want %s", out, tt.out)
			}
			if out != nil && !json.Valid(out) {
				t.Fatalf("not JSON: %s", out)
			}
		})
	}
	cfg := configOf(channel(`{"beta":["x"],"maxTokens":100,"thinking":"budget","version":"2026-10-21"}`))
	if cfg.version != "2026-10-21" || cfg.maxTokens != 100 || cfg.thinking != ThinkingBudget || len(cfg.beta) != 1 {
		t.Errorf("configOf = %+v", cfg)
	}
	if cfg := configOf(nil); cfg.version != DefaultVersion || cfg.maxTokens != DefaultMaxTokens || cfg.thinking != ThinkingAdaptive {
		t.Errorf("defaults = %+v", cfg)
	}
}

// upstream is a fake Anthropic API that records requests and replays a
// fixture.
type upstream struct {
	status int
	header http.Header
	body   []byte
	got    *http.Request
	sent   []byte
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.got = r.Clone(context.Background())
	u.sent, _ = io.ReadAll(r.Body)
	for k, v := range u.header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	st := u.status
	if st == 0 {
		st = http.StatusOK
	}
	w.WriteHeader(st)
	w.Write(u.body)
}

// roundTrip sends call through the adaptor to u and returns the answer.
func roundTrip(tb testing.TB, u *upstream, call *relay.Call) *http.Response {
	tb.Helper()
	srv := httptest.NewServer(u)
	tb.Cleanup(srv.Close)
	call.BaseURL = srv.URL
	req, err := NewAdaptor().Request(context.Background(), call)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	return resp
}

// clientRequest returns a client request of protocol p with the headers
// of an Anthropic SDK client.
func clientRequest(p aiproxy.Protocol, hd http.Header) *relay.Request {
	if hd == nil {
		hd = http.Header{}
	}
	hd.Set("X-Api-Key", "sk-client-secret")
	hd.Set("Authorization", "Bearer sk-client-secret")
	return &relay.Request{Protocol: p, Header: hd, Body: []byte(`{}`)}
}

func TestRequestHeaders(t *testing.T) {
	tests := []struct {
		name     string
		protocol aiproxy.Protocol
		header   http.Header
		config   string
		stream   bool
		op       relay.Op
		path     string
		version  string
		beta     string
	}{
		{"openai client, defaults", aiproxy.ProtocolOpenAI, http.Header{"Anthropic-Version": {"2026-10-21"}, "Anthropic-Beta": {"ignored-1"}}, "", false, relay.OpGenerate, "/v1/messages", DefaultVersion, ""},
		{"openai client, config", aiproxy.ProtocolOpenAI, nil, `{"version":"2026-10-21","beta":["interleaved-thinking-2025-05-14"]}`, true, relay.OpGenerate, "/v1/messages", "2026-10-21", "interleaved-thinking-2025-05-14"},
		{"anthropic client's version and betas merged", aiproxy.ProtocolAnthropic,
			http.Header{"Anthropic-Version": {"2026-10-21"}, "Anthropic-Beta": {"claude-code-20250219,interleaved-thinking-2025-05-14", "context-management-2025-06-27"}},
			`{"beta":["interleaved-thinking-2025-05-14","fast-mode-2026-02-01"]}`, true, relay.OpGenerate, "/v1/messages",
			"2026-10-21", "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,fast-mode-2026-02-01"},
		{"anthropic client without a version", aiproxy.ProtocolAnthropic, nil, `{"version":"2023-06-01"}`, false, relay.OpCountTokens, "/v1/messages/count_tokens", "2023-06-01", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &upstream{body: readFixture(t, "response_tools.json")}
			body := []byte(`{"model":"claude-sonnet-4-6","max_tokens":10,"messages":[]}`)
			call := &relay.Call{Request: clientRequest(tt.protocol, tt.header), Op: tt.op, Mode: aiproxy.ModeChat, Channel: channel(tt.config),
				Model: "claude", UpstreamModel: "claude-sonnet-4-6", Stream: tt.stream, Body: body}
			roundTrip(t, u, call)
			h := u.got.Header
			if u.got.Method != http.MethodPost || u.got.URL.Path != tt.path {
				t.Errorf("%s %s, want POST %s", u.got.Method, u.got.URL.Path, tt.path)
			}
			if h.Get("X-Api-Key") != "sk-ant-channel" {
				t.Errorf("x-api-key = %q, want the channel's key", h.Get("X-Api-Key"))
			}
			if h.Get("Authorization") != "" {
				t.Errorf("Authorization sent: %q", h.Get("Authorization"))
			}
			for k, vs := range h {
				for _, v := range vs {
					if strings.Contains(v, "sk-client-secret") {
						t.Errorf("the client's key leaked in %s", k)
					}
				}
			}
			if h.Get("Anthropic-Version") != tt.version {
				t.Errorf("anthropic-version = %q, want %q", h.Get("Anthropic-Version"), tt.version)
			}
			if got := strings.Join(h.Values("Anthropic-Beta"), "|"); got != tt.beta {
				t.Errorf("anthropic-beta = %q, want %q", got, tt.beta)
			}
			if h.Get("Content-Type") != "application/json" {
				t.Errorf("content-type = %q", h.Get("Content-Type"))
			}
			if accept := h.Get("Accept"); (accept == "text/event-stream") != tt.stream {
				t.Errorf("accept = %q for stream %v", accept, tt.stream)
			}
			if !bytes.Equal(u.sent, body) {
				t.Errorf("body sent %s, want %s", u.sent, body)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	for _, tt := range []struct {
		base string
		op   relay.Op
		want string
	}{
		{DefaultBaseURL, relay.OpGenerate, "https://api.anthropic.com/v1/messages"},
		{DefaultBaseURL, relay.OpCountTokens, "https://api.anthropic.com/v1/messages/count_tokens"},
		{"https://proxy.example/anthropic/v1", relay.OpGenerate, "https://proxy.example/anthropic/v1/messages"},
		{"https://proxy.example/anthropic/", relay.OpGenerate, "https://proxy.example/anthropic/v1/messages"},
	} {
		if got := endpoint(tt.base, tt.op); got != tt.want {
			t.Errorf("endpoint(%q, %d) = %s, want %s", tt.base, tt.op, got, tt.want)
		}
	}
	if _, err := NewAdaptor().Request(context.Background(), &relay.Call{Mode: aiproxy.ModeEmbeddings, Channel: channel("")}); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Errorf("embeddings: %v, want EINVALID", err)
	}
	a := NewAdaptor()
	for _, tt := range []struct {
		mode aiproxy.Mode
		op   relay.Op
		want bool
	}{{aiproxy.ModeChat, relay.OpGenerate, true}, {aiproxy.ModeChat, relay.OpCountTokens, true}, {aiproxy.ModeEmbeddings, relay.OpGenerate, false}, {aiproxy.ModeCompletions, relay.OpGenerate, false}} {
		if a.Supports(tt.mode, tt.op) != tt.want {
			t.Errorf("Supports(%s, %d) = %v", tt.mode, tt.op, !tt.want)
		}
	}
}

func TestResponse(t *testing.T) {
	u := &upstream{body: readFixture(t, "response_tools.json")}
	call := &relay.Call{Request: clientRequest(aiproxy.ProtocolOpenAI, nil), Mode: aiproxy.ModeChat, Channel: channel(""), UpstreamModel: "m", Body: []byte(`{}`)}
	resp := roundTrip(t, u, call)
	res, err := NewAdaptor().Response(call, resp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Body, u.body) {
		t.Errorf("body changed")
	}
	want := aiproxy.Usage{PromptTokens: 472 + 1024 + 100, CompletionTokens: 189, CachedTokens: 1024, CacheCreationTokens: 100, ReasoningTokens: 61, TotalTokens: 472 + 1024 + 100 + 189}
	if res.Usage == nil || *res.Usage != want {
		t.Errorf("usage %+v, want %+v", res.Usage, want)
	}

	u = &upstream{body: []byte(`{"input_tokens":2095}`)}
	call.Op = relay.OpCountTokens
	resp = roundTrip(t, u, call)
	if res, err = NewAdaptor().Response(call, resp); err != nil {
		t.Fatal(err)
	}
	if res.TokenCount != 2095 || res.Usage == nil || *res.Usage != (aiproxy.Usage{}) {
		t.Errorf("count: %d tokens, usage %+v", res.TokenCount, res.Usage)
	}
	if u.got.URL.Path != "/v1/messages/count_tokens" {
		t.Errorf("count path %s", u.got.URL.Path)
	}
}

// upstreamErrorView is what a golden file shows of an *relay.UpstreamError.
type upstreamErrorView struct {
	Status      int             `json:"status"`
	Type        string          `json:"type"`
	Message     string          `json:"message"`
	Protocol    string          `json:"protocol"`
	RetryAfter  string          `json:"retry_after,omitempty"`
	ClientFault bool            `json:"client_fault"`
	Body        json.RawMessage `json:"body"`
}

func TestErrorGolden(t *testing.T) {
	tests := []struct {
		file   string
		status int
		header http.Header
	}{
		{"error_400.json", 400, nil},
		{"error_401.json", 401, nil},
		{"error_429.json", 429, http.Header{"Retry-After": {"17"}}},
		{"error_529.json", 529, http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"2"}}},
		{"error_502.html", 502, http.Header{"Content-Type": {"text/html"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			u := &upstream{status: tt.status, header: tt.header, body: readFixture(t, tt.file)}
			call := &relay.Call{Request: clientRequest(aiproxy.ProtocolAnthropic, nil), Mode: aiproxy.ModeChat, Channel: channel(""), UpstreamModel: "m", Body: []byte(`{}`)}
			resp := roundTrip(t, u, call)
			ue := NewAdaptor().Error(call, resp)
			if !json.Valid(ue.Body) || gjson.GetBytes(ue.Body, "type").Str != "error" || gjson.GetBytes(ue.Body, "error.message").Str != ue.Message {
				t.Fatalf("body is not an Anthropic error carrying the message: %s", ue.Body)
			}
			v := upstreamErrorView{Status: ue.Status, Type: ue.Type, Message: ue.Message, Protocol: string(ue.Protocol), ClientFault: ue.ClientFault(), Body: ue.Body}
			if ue.RetryAfter > 0 {
				v.RetryAfter = ue.RetryAfter.String()
			}
			out, _ := json.MarshalIndent(v, "", "  ")
			golden(t, strings.TrimSuffix(strings.TrimSuffix(tt.file, ".json"), ".html")+".golden", out)
		})
	}
}

func TestErrorMessages(t *testing.T) {
	long := strings.Repeat("x", 600) + "é"
	tests := []struct {
		name, body, message, typ string
		keepBody                 bool
	}{
		{"empty", "", "Service Unavailable", "", false},
		{"long text", long, long[:512], "", false},
		{"openai shape", `{"error":{"message":"bad key","type":"invalid_request_error"}}`, "bad key", "invalid_request_error", false},
		{"string error", `{"error":"nope"}`, "nope", "", false},
		{"anthropic", `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, "Internal server error", "api_error", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: 503, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tt.body))}
			ue := NewAdaptor().Error(&relay.Call{}, resp)
			if ue.Message != tt.message || ue.Type != tt.typ || ue.Protocol != aiproxy.ProtocolAnthropic {
				t.Fatalf("got %+v", ue)
			}
			if tt.keepBody != (string(ue.Body) == tt.body) {
				t.Fatalf("body %s (kept: %v)", ue.Body, tt.keepBody)
			}
			if !json.Valid(ue.Body) {
				t.Fatalf("body not JSON: %s", ue.Body)
			}
		})
	}
	if d := relay.RetryAfter(http.Header{"Retry-After": {time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}}); d < 59*time.Minute {
		t.Errorf("HTTP date Retry-After = %v", d)
	}
	if d := relay.RetryAfter(http.Header{"Retry-After": {"soon"}}); d != 0 {
		t.Errorf("bad Retry-After = %v", d)
	}
}

// chunkView is what a golden file shows of one chunk of the adaptor's
// stream.
type chunkView struct {
	Name    string          `json:"name,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Comment string          `json:"comment,omitempty"`
	Usage   *aiproxy.Usage  `json:"usage,omitempty"`
	Text    string          `json:"text,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// readChunks reads a stream transcript through the adaptor; the chunks are
// copied.
func readChunks(tb testing.TB, wire []byte) ([]relay.Chunk, error) {
	tb.Helper()
	st, err := NewAdaptor().Stream(&relay.Call{Stream: true}, &http.Response{Body: io.NopCloser(bytes.NewReader(wire))})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	var out []relay.Chunk
	for {
		c, err := st.Next()
		if err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, err
		}
		cc := relay.Chunk{Name: bytes.Clone(c.Name), Data: bytes.Clone(c.Data), Comment: bytes.Clone(c.Comment), Text: bytes.Clone(c.Text), Error: c.Error}
		if c.Usage != nil {
			u := *c.Usage
			cc.Usage = &u
		}
		out = append(out, cc)
	}
}

// TestStreamGolden reads every transcript (testdata/*.sse) through the
// adaptor and compares the chunks with testdata/*.chunks.golden.
func TestStreamGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.sse")
	if len(files) == 0 {
		t.Fatal("no testdata/*.sse transcripts")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".sse")
		t.Run(name, func(t *testing.T) {
			chunks, err := readChunks(t, readFixture(t, filepath.Base(file)))
			if err != nil {
				t.Fatal(err)
			}
			views := make([]chunkView, len(chunks))
			var last *aiproxy.Usage
			for i, c := range chunks {
				if len(c.Data) > 0 && !json.Valid(c.Data) {
					t.Fatalf("chunk %d is not JSON: %s", i, c.Data)
				}
				views[i] = chunkView{Name: string(c.Name), Data: c.Data, Comment: string(c.Comment), Usage: c.Usage, Text: string(c.Text), Error: c.Error}
				if c.Usage != nil {
					last = c.Usage
				}
			}
			if last != nil && last.TotalTokens != last.PromptTokens+last.CompletionTokens {
				t.Errorf("usage total %+v", last)
			}
			out, _ := json.MarshalIndent(views, "", "  ")
			golden(t, name+".chunks.golden", out)
		})
	}
}

func TestStreamLines(t *testing.T) {
	wire := ": keep-alive\r\n\r\nevent: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\r\ndata: \"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\r\n\r\ndata: {\"type\":\"message_stop\"}"
	chunks, err := readChunks(t, []byte(wire))
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 3 {
		t.Fatalf("%d chunks: %+v", len(chunks), chunks)
	}
	if string(chunks[0].Comment) != ": keep-alive" {
		t.Errorf("comment %q", chunks[0].Comment)
	}
	if string(chunks[1].Name) != "content_block_delta" || gjson.GetBytes(chunks[1].Data, "delta.text").Str != "a" || string(chunks[1].Text) != "a" {
		t.Errorf("multi-line data: %s %s", chunks[1].Name, chunks[1].Data)
	}
	if chunks[2].Name != nil || gjson.GetBytes(chunks[2].Data, "type").Str != "message_stop" {
		t.Errorf("unnamed event at EOF: %q %s", chunks[2].Name, chunks[2].Data)
	}
}
