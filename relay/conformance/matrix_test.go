package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/providers"
	"github.com/aiproxy/aiproxy/relay/relaytest"
	"github.com/aiproxy/aiproxy/relay/relaytest/sdk"
)

var update = flag.Bool("update", false, "rewrite docs/conformance.md")

const gatewayKey = "sk-conformance-client"

// protocols are the client protocols and channel types, in table order.
var protocols = []string{sdk.OpenAI, sdk.Anthropic, sdk.Gemini}

// upstream is one fake provider behind a channel.
type upstream interface {
	Requests() []relaytest.Request
}

// env is the gateway in front of one fake provider of each type.
type env struct {
	gw        *httptest.Server
	mem       *relaytest.Memory
	upstreams map[string]upstream
	sent      int // requests sent to the gateway, each logged once
}

// scenarioModels are the upstream models every channel serves; a client
// names one as "<channel type>-<model>", which the channel maps back.
var scenarioModels = []string{
	"echo",
	relaytest.ModelNoUsage,
	relaytest.ModelTools,
	relaytest.ModelReasoning,
	relaytest.ModelReasoningTools,
	relaytest.ModelStreamError,
	relaytest.ModelBadRequest,
	relaytest.ModelUnauthorized,
	relaytest.ModelRateLimited,
	relaytest.ModelServerError,
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	oa, oaSrv := relaytest.Start(tb, relaytest.WithKey("sk-up-openai"))
	an, anSrv := relaytest.StartAnthropic(tb, relaytest.WithKey("sk-up-anthropic"))
	ge, geSrv := relaytest.StartGemini(tb, relaytest.WithKey("sk-up-gemini"))
	e := &env{mem: relaytest.NewMemory(), upstreams: map[string]upstream{sdk.OpenAI: oa, sdk.Anthropic: an, sdk.Gemini: ge}}
	e.mem.AddToken(gatewayKey, &aiproxy.Token{ID: 1, GroupID: "g", Name: "conformance", Enabled: true}, &aiproxy.Group{ID: "g", Enabled: true})
	for i, ch := range []struct {
		typ, base, key string
	}{
		{sdk.OpenAI, oaSrv.URL + "/v1", "sk-up-openai"},
		{sdk.Anthropic, anSrv.URL, "sk-up-anthropic"},
		{sdk.Gemini, geSrv.URL, "sk-up-gemini"},
	} {
		c := &aiproxy.Channel{ID: int64(i + 1), Name: ch.typ, Type: aiproxy.ChannelType(ch.typ), BaseURL: ch.base, Key: ch.key, Enabled: true}
		for _, m := range scenarioModels {
			c.Models = append(c.Models, ch.typ+"-"+m)
			c.ModelMapping = append(c.ModelMapping, aiproxy.ModelMapping{From: ch.typ + "-" + m, To: m})
		}
		e.mem.AddChannel(c)
	}
	s := &relay.Server{Keys: e.mem, Catalog: e.mem, Logs: e.mem, Providers: providers.Providers(), Ingresses: providers.Ingresses(), MaxAttempts: 1}
	r := chi.NewRouter()
	s.Mount(r)
	e.gw = httptest.NewServer(r)
	tb.Cleanup(e.gw.Close)
	return e
}

// base is the URL a client of protocol p takes for the gateway.
func (e *env) base(p string) string {
	if p == sdk.OpenAI {
		return e.gw.URL + "/v1"
	}
	return e.gw.URL
}

// cell is one client protocol calling one channel type.
type cell struct {
	e               *env
	client, channel string
}

// session opens a conversation of the cell's client with model, which is
// served by the cell's channel.
func (c *cell) session(cfg sdk.Config) sdk.Session {
	cfg.Model = c.channel + "-" + cfg.Model
	return counted{sdk.Open(c.client, c.e.base(c.client), gatewayKey, c.e.gw.Client(), cfg), c.e}
}

// counted counts the requests a session sends.
type counted struct {
	sdk.Session
	e *env
}

// Turn sends the turn once the requests before it are all logged, so
// that logs are recorded in the order of the requests.
func (s counted) Turn(ctx context.Context, text string, media int, results []string) (sdk.Answer, error) {
	for deadline := time.Now().Add(10 * time.Second); len(s.e.mem.Logs()) < s.e.sent && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	s.e.sent++
	return s.Session.Turn(ctx, text, media, results)
}

// conversation returns what the channel's fake last received.
func (c *cell) conversation(tb testing.TB) *relaytest.Conversation {
	tb.Helper()
	reqs := c.e.upstreams[c.channel].Requests()
	if len(reqs) == 0 || reqs[len(reqs)-1].Conversation == nil {
		tb.Fatal("the provider received no conversation")
	}
	return reqs[len(reqs)-1].Conversation
}

// lastLog waits for the log of the latest request and returns it.
// Requests are sent one at a time, so logs are recorded in their order.
func (c *cell) lastLog(tb testing.TB) *aiproxy.Log {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		logs := c.e.mem.Logs()
		if len(logs) >= c.e.sent {
			return logs[c.e.sent-1]
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d logs for %d requests", len(logs), c.e.sent)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkLog checks the log of the latest request: its protocols, status
// and usage.
func (c *cell) checkLog(tb testing.TB, status int, a *sdk.Answer) {
	tb.Helper()
	l := c.lastLog(tb)
	if string(l.ClientProtocol) != c.client || string(l.ChannelProtocol) != c.channel || l.StatusCode != status {
		tb.Errorf("log protocols %s→%s status %d, want %s→%s %d", l.ClientProtocol, l.ChannelProtocol, l.StatusCode, c.client, c.channel, status)
	}
	if a != nil && (l.Usage.PromptTokens != a.Prompt || l.Usage.CompletionTokens != a.Completion || l.UsageCounted) {
		tb.Errorf("log usage %+v (counted %v), the client was told prompt %d completion %d", l.Usage, l.UsageCounted, a.Prompt, a.Completion)
	}
}

// turn sends one user turn and fails tb when the SDK fails.
func turn(tb testing.TB, s sdk.Session, text string, media int, results []string) sdk.Answer {
	tb.Helper()
	a, err := s.Turn(tb.Context(), text, media, results)
	if err != nil {
		tb.Fatalf("turn %q: %v", text, err)
	}
	return a
}

var weatherCalls = []sdk.Call{
	{Name: relaytest.WeatherTool, Args: map[string]any{"city": "Paris", "unit": "celsius"}},
	{Name: relaytest.TimeTool, Args: map[string]any{"timezone": "Europe/Paris"}},
}

// wantCalls checks the tool calls of an answer: names, parsed arguments,
// and ids present and distinct (Gemini clients may get none: Gemini's
// calls have no ids of their own).
func wantCalls(tb testing.TB, c *cell, got []sdk.Call, want []sdk.Call) {
	tb.Helper()
	same := slices.EqualFunc(got, want, func(a, b sdk.Call) bool {
		ga, _ := json.Marshal(a.Args)
		wa, _ := json.Marshal(b.Args)
		return a.Name == b.Name && bytes.Equal(ga, wa)
	})
	if !same {
		tb.Fatalf("tool calls %+v, want %+v", got, want)
	}
	seen := map[string]bool{}
	for _, call := range got {
		if call.ID == "" && c.client == sdk.Gemini {
			continue
		}
		if call.ID == "" || seen[call.ID] {
			tb.Errorf("tool call ids %+v: each must be set and distinct", got)
		}
		seen[call.ID] = true
	}
}

func wantText(tb testing.TB, a sdk.Answer, text, finish string) {
	tb.Helper()
	if a.Text != text || a.Finish != finish {
		tb.Errorf("answer %q (finish %q), want %q (%q)", a.Text, a.Finish, text, finish)
	}
}

// scenario is one row of the matrix.
type scenario struct {
	name string
	run  func(t *testing.T, c *cell)
}

// words is the number of words of s, the fakes' token count.
func words(s string) int64 { return int64(len(strings.Fields(s))) }

// streamed runs f twice, not streamed and streamed.
func streamed(f func(t *testing.T, c *cell, stream bool)) func(t *testing.T, c *cell) {
	return func(t *testing.T, c *cell) {
		for _, stream := range []bool{false, true} {
			t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) { f(t, c, stream) })
		}
	}
}

var scenarios = []scenario{
	{"text", streamed(func(t *testing.T, c *cell, stream bool) {
		a := turn(t, c.session(sdk.Config{Model: "echo", Stream: stream}), "hi", 0, nil)
		wantText(t, a, "Hello! You said: hi", "stop")
		if conv := c.conversation(t); a.Prompt != conv.PromptTokens || a.Completion != 4 {
			t.Errorf("usage prompt %d completion %d, want %d and 4", a.Prompt, a.Completion, conv.PromptTokens)
		}
		c.checkLog(t, 200, &a)
	})},
	{"system prompt", streamed(func(t *testing.T, c *cell, stream bool) {
		a := turn(t, c.session(sdk.Config{Model: "echo", Stream: stream, System: "Be brief."}), "hi", 0, nil)
		wantText(t, a, "Hello! You said: hi", "stop")
		if conv := c.conversation(t); conv.System != "Be brief." || conv.Turns != 1 {
			t.Errorf("the provider got system %q and %d turns", conv.System, conv.Turns)
		}
	})},
	{"multi-turn", streamed(func(t *testing.T, c *cell, stream bool) {
		s := c.session(sdk.Config{Model: "echo", Stream: stream})
		turn(t, s, "one", 0, nil)
		a := turn(t, s, "two", 0, nil)
		wantText(t, a, "Hello! You said: two", "stop")
		if conv := c.conversation(t); conv.Turns != 3 || conv.Said != "two" {
			t.Errorf("the provider got %d turns, said %q; want 3, two", conv.Turns, conv.Said)
		}
		if conv := c.conversation(t); a.Prompt != conv.PromptTokens {
			t.Errorf("prompt tokens %d, the provider counted %d", a.Prompt, conv.PromptTokens)
		}
	})},
	{"image input", streamed(func(t *testing.T, c *cell, stream bool) {
		a := turn(t, c.session(sdk.Config{Model: "echo", Stream: stream}), "look", 1, nil)
		wantText(t, a, "Hello! You said: look (+1 media)", "stop")
		if conv := c.conversation(t); conv.Media != 1 {
			t.Errorf("the provider got %d media", conv.Media)
		}
	})},
	{"tool round trip, parallel calls", streamed(func(t *testing.T, c *cell, stream bool) {
		s := c.session(sdk.Config{Model: relaytest.ModelTools, Stream: stream, Tools: true})
		a := turn(t, s, "weather?", 0, nil)
		wantCalls(t, c, a.Calls, weatherCalls)
		if a.Finish != "tools" {
			t.Errorf("finish %q, want tools", a.Finish)
		}
		if conv := c.conversation(t); !slices.Equal(conv.Tools, []string{relaytest.WeatherTool, relaytest.TimeTool}) {
			t.Errorf("the provider got tools %v", conv.Tools)
		}
		a = turn(t, s, "", 0, []string{"18C", "14:00"})
		wantText(t, a, "Results: 18C; 14:00", "stop")
		if conv := c.conversation(t); !slices.Equal(conv.ToolResults, []string{"18C", "14:00"}) {
			t.Errorf("the provider got tool results %q", conv.ToolResults)
		}
		c.checkLog(t, 200, &a)
	})},
	{"streamed tool arguments", func(t *testing.T, c *cell) {
		calls, fragments := streamToolCalls(t, c)
		wantCalls(t, c, calls, weatherCalls)
		// Arguments arrive in pieces where both protocols stream them so
		// (Gemini sends each call whole, and Gemini clients get them whole).
		if c.client != sdk.Gemini && c.channel != sdk.Gemini && fragments < 2*len(weatherCalls) {
			t.Errorf("%d argument fragments for %d calls: they were buffered, not streamed", fragments, len(weatherCalls))
		}
	}},
	{"reasoning", streamed(func(t *testing.T, c *cell, stream bool) {
		s := c.session(sdk.Config{Model: relaytest.ModelReasoning, Stream: stream, Reasoning: true})
		a := turn(t, s, "hi", 0, nil)
		wantText(t, a, "Hello! You said: hi", "stop")
		if a.Reasoning != "Thinking about: hi" {
			t.Errorf("reasoning %q", a.Reasoning)
		}
		if a.Completion != words("Thinking about: hi Hello! You said: hi") {
			t.Errorf("completion tokens %d: reasoning must count as output", a.Completion)
		}
		// The reasoning goes back with the history; providers that sign it
		// refuse it when the signature did not survive.
		a = turn(t, s, "again", 0, nil)
		wantText(t, a, "Hello! You said: again", "stop")
	})},
	{"reasoning on a tool-call turn", streamed(func(t *testing.T, c *cell, stream bool) {
		s := c.session(sdk.Config{Model: relaytest.ModelReasoningTools, Stream: stream, Tools: true, Reasoning: true})
		a := turn(t, s, "weather?", 0, nil)
		if a.Reasoning != "Thinking about: weather?" {
			t.Errorf("reasoning %q on the tool-call turn", a.Reasoning)
		}
		wantCalls(t, c, a.Calls, weatherCalls)
		a = turn(t, s, "", 0, []string{"18C", "14:00"})
		wantText(t, a, "Results: 18C; 14:00", "stop")
	})},
	{"stop by length", streamed(func(t *testing.T, c *cell, stream bool) {
		a := turn(t, c.session(sdk.Config{Model: "echo", Stream: stream, MaxTokens: 3}), "one two three", 0, nil)
		wantText(t, a, "Hello! You said:", "length")
		if conv := c.conversation(t); conv.MaxTokens != 3 {
			t.Errorf("the provider got max tokens %d", conv.MaxTokens)
		}
	})},
	{"error 400", errorScenario(relaytest.ModelBadRequest, 400)},
	{"error 401", errorScenario(relaytest.ModelUnauthorized, 502)},
	{"error 429", errorScenario(relaytest.ModelRateLimited, 429)},
	{"error 500", errorScenario(relaytest.ModelServerError, 502)},
	{"in-stream error", func(t *testing.T, c *cell) {
		_, err := c.session(sdk.Config{Model: relaytest.ModelStreamError, Stream: true}).Turn(t.Context(), "hi", 0, nil)
		if err == nil {
			t.Fatal("the stream ended without an error")
		}
		l := c.lastLog(t)
		if l.Error == "" || l.StatusCode < 500 {
			t.Errorf("log status %d error %q", l.StatusCode, l.Error)
		}
	}},
}

// streamToolCalls asks the cell's channel for ModelTools' two calls in a
// stream, reads the raw events in the client's protocol, and returns the
// calls (arguments joined from their fragments and parsed) and how many
// argument fragments came.
func streamToolCalls(t *testing.T, c *cell) ([]sdk.Call, int) {
	t.Helper()
	model := c.channel + "-" + relaytest.ModelTools
	var url, body string
	header := http.Header{"Content-Type": {"application/json"}}
	switch c.client {
	case sdk.OpenAI:
		url = c.e.gw.URL + "/v1/chat/completions"
		body = `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"weather?"}],"tools":[` +
			`{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object"}}}]}`
		header.Set("Authorization", "Bearer "+gatewayKey)
	case sdk.Anthropic:
		url = c.e.gw.URL + "/v1/messages"
		body = `{"model":"` + model + `","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"weather?"}],"tools":[` +
			`{"name":"get_weather","input_schema":{"type":"object"}},{"name":"get_time","input_schema":{"type":"object"}}]}`
		header.Set("X-Api-Key", gatewayKey)
		header.Set("Anthropic-Version", "2023-06-01")
	case sdk.Gemini:
		url = c.e.gw.URL + "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
		body = `{"contents":[{"role":"user","parts":[{"text":"weather?"}]}],"tools":[{"functionDeclarations":[{"name":"get_weather"},{"name":"get_time"}]}]}`
		header.Set("X-Goog-Api-Key", gatewayKey)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	req.Header = header
	c.e.sent++
	resp, err := c.e.gw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	type acc struct {
		id, name string
		args     strings.Builder
	}
	var calls []*acc
	byIndex := map[int64]*acc{}
	fragments := 0
	for line := range strings.Lines(string(raw)) {
		data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		ev := gjson.Parse(data)
		switch c.client {
		case sdk.OpenAI:
			for _, tc := range ev.Get("choices.0.delta.tool_calls").Array() {
				i := tc.Get("index").Int()
				a := byIndex[i]
				if a == nil {
					a = &acc{}
					byIndex[i] = a
					calls = append(calls, a)
				}
				if id := tc.Get("id").Str; id != "" {
					a.id = id
				}
				if n := tc.Get("function.name").Str; n != "" {
					a.name = n
				}
				if f := tc.Get("function.arguments").Str; f != "" {
					fragments++
					a.args.WriteString(f)
				}
			}
		case sdk.Anthropic:
			i := ev.Get("index").Int()
			switch ev.Get("type").Str {
			case "content_block_start":
				if b := ev.Get("content_block"); b.Get("type").Str == "tool_use" {
					a := &acc{id: b.Get("id").Str, name: b.Get("name").Str}
					byIndex[i] = a
					calls = append(calls, a)
				}
			case "content_block_delta":
				if d := ev.Get("delta"); d.Get("type").Str == "input_json_delta" && byIndex[i] != nil {
					if f := d.Get("partial_json").Str; f != "" {
						fragments++
						byIndex[i].args.WriteString(f)
					}
				}
			}
		case sdk.Gemini:
			for _, p := range ev.Get("candidates.0.content.parts").Array() {
				if fc := p.Get("functionCall"); fc.Exists() {
					a := &acc{id: fc.Get("id").Str, name: fc.Get("name").Str}
					a.args.WriteString(fc.Get("args").Raw)
					fragments++
					calls = append(calls, a)
				}
			}
		}
	}
	var out []sdk.Call
	for _, a := range calls {
		var args map[string]any
		if err := json.Unmarshal([]byte(a.args.String()), &args); err != nil {
			t.Fatalf("call %s: arguments %q: %v", a.name, a.args.String(), err)
		}
		out = append(out, sdk.Call{ID: a.id, Name: a.name, Args: args})
	}
	return out, fragments
}

// errorTypes is the error type (Google's status for Gemini) each client
// protocol's SDK must see for a status.
var errorTypes = map[string]map[int]string{
	sdk.OpenAI:    {400: "invalid_request_error", 429: "rate_limit_error", 502: "server_error"},
	sdk.Anthropic: {400: "invalid_request_error", 429: "rate_limit_error", 502: "api_error"},
	sdk.Gemini:    {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 502: "UNAVAILABLE"},
}

// badRequestWords are in the message each fake gives ModelBadRequest.
var badRequestWords = map[string]string{
	sdk.OpenAI:    "rejects every request",
	sdk.Anthropic: "rejects every request",
	sdk.Gemini:    "invalid argument",
}

// errorScenario sends a request the provider fails with the model's error
// and checks the status and error type the client's SDK sees: the
// client's own fault (400) is passed on, a rate limit stays a rate limit,
// the provider's other failures (a refused channel key, a 500) become the
// gateway's 502.
func errorScenario(model string, status int) func(t *testing.T, c *cell) {
	return streamed(func(t *testing.T, c *cell, stream bool) {
		_, err := c.session(sdk.Config{Model: model, Stream: stream}).Turn(t.Context(), "hi", 0, nil)
		st, typ, msg := sdk.Describe(err)
		if st != status || typ != errorTypes[c.client][status] || msg == "" {
			t.Fatalf("error %v: status %d type %q message %q, want %d %q", err, st, typ, msg, status, errorTypes[c.client][status])
		}
		// The client's own fault reaches it with the provider's words.
		if status == 400 && !strings.Contains(msg, badRequestWords[c.channel]) {
			t.Errorf("the provider's message was lost: %q, want %q in it", msg, badRequestWords[c.channel])
		}
		c.checkLog(t, status, nil)
	})
}

// unsupported holds the cells that are deliberately not served, with the
// reason shown in the table: none.
var unsupported = map[string]string{}

func TestMatrix(t *testing.T) {
	e := newEnv(t)
	results := map[string]bool{}
	for _, sc := range scenarios {
		for _, client := range protocols {
			for _, channel := range protocols {
				key := sc.name + "|" + client + "|" + channel
				if _, ok := unsupported[key]; ok {
					continue
				}
				c := &cell{e: e, client: client, channel: channel}
				results[key] = t.Run(sc.name+"/"+client+"→"+channel, func(t *testing.T) { sc.run(t, c) })
			}
		}
	}
	table := matrixTable(results)
	t.Log("\n" + table)
	const doc = "../../docs/conformance.md"
	if *update {
		if err := os.WriteFile(doc, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(doc); err != nil || !bytes.Equal(want, []byte(table)) {
		t.Errorf("%s does not hold this matrix (%v); run go test ./relay/conformance -update", doc, err)
	}
}

var titles = map[string]string{sdk.OpenAI: "OpenAI", sdk.Anthropic: "Anthropic", sdk.Gemini: "Gemini"}

// matrixTable renders the results as docs/conformance.md.
func matrixTable(results map[string]bool) string {
	var b strings.Builder
	b.WriteString("# Conformance matrix\n\n")
	b.WriteString("Every client protocol against every channel type, through the official Go SDKs\n")
	b.WriteString("(openai-go, anthropic-sdk-go, genai) as clients and the fake providers of\n")
	b.WriteString("`relay/relaytest` as upstreams. Each scenario runs as a JSON answer and as a\n")
	b.WriteString("stream, and asserts on what the SDK decoded (texts, parsed tool arguments,\n")
	b.WriteString("finish reasons, usage, error statuses and types) and on what the provider\n")
	b.WriteString("received. Written by `go test ./relay/conformance -update`; the test fails when\n")
	b.WriteString("this file no longer matches.\n\n")
	b.WriteString("Columns are client → channel. ✓ passes; ✗ fails; — is deliberately unsupported (reason below).\n\n")
	b.WriteString("| scenario |")
	for _, cl := range protocols {
		for _, ch := range protocols {
			fmt.Fprintf(&b, " %s → %s |", titles[cl], titles[ch])
		}
	}
	b.WriteString("\n|---|")
	for range len(protocols) * len(protocols) {
		b.WriteString(":-:|")
	}
	b.WriteString("\n")
	var notes []string
	for _, sc := range scenarios {
		fmt.Fprintf(&b, "| %s |", sc.name)
		for _, cl := range protocols {
			for _, ch := range protocols {
				key := sc.name + "|" + cl + "|" + ch
				switch ok, ran := results[key]; {
				case !ran:
					b.WriteString(" — |")
					notes = append(notes, fmt.Sprintf("- %s, %s → %s: %s", sc.name, titles[cl], titles[ch], unsupported[key]))
				case ok:
					b.WriteString(" ✓ |")
				default:
					b.WriteString(" ✗ |")
				}
			}
		}
		b.WriteString("\n")
	}
	if len(notes) > 0 {
		b.WriteString("\nUnsupported:\n\n" + strings.Join(notes, "\n") + "\n")
	}
	return b.String()
}

// The gateway's own errors reach each client in its protocol, so that its
// SDK raises the right error.
func TestGatewayErrors(t *testing.T) {
	e := newEnv(t)
	for _, client := range protocols {
		for _, tt := range []struct {
			name, key, model string
			status           int
			typ              map[string]string
		}{
			{"wrong key", "sk-wrong", "openai-echo", 401, map[string]string{sdk.OpenAI: "authentication_error", sdk.Anthropic: "authentication_error", sdk.Gemini: "UNAUTHENTICATED"}},
			{"unknown model", gatewayKey, "no-such-model", 404, map[string]string{sdk.OpenAI: "invalid_request_error", sdk.Anthropic: "not_found_error", sdk.Gemini: "NOT_FOUND"}},
		} {
			t.Run(client+"/"+tt.name, func(t *testing.T) {
				s := sdk.Open(client, e.base(client), tt.key, e.gw.Client(), sdk.Config{Model: tt.model})
				_, err := s.Turn(t.Context(), "hi", 0, nil)
				if st, typ := sdk.Status(err); st != tt.status || typ != tt.typ[client] {
					t.Errorf("error %v: status %d type %q, want %d %q", err, st, typ, tt.status, tt.typ[client])
				}
			})
		}
	}
}
