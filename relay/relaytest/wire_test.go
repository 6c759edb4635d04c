package relaytest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden wire transcripts in testdata/")

func TestTokens(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"   ", 0},
		{"one", 1},
		{" one  two\tthree\n", 3},
		{"héllo wörld", 2},
		{"a\u00a0b", 2}, // no-break space is a space
	} {
		if got := Tokens(tt.in); got != tt.want {
			t.Errorf("Tokens(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestSplit(t *testing.T) {
	for _, tt := range []struct {
		text string
		n    int
		want []string
	}{
		{"", 0, nil},
		{"", 2, []string{"", ""}},
		{"Hello! You said: hi", 0, []string{"Hello!", " You", " said:", " hi"}},
		{" lead and trail ", 0, []string{" lead", " and", " trail "}},
		{"   ", 0, []string{"   "}},
		{"a b c d e", 2, []string{"a b", " c d e"}},
		{"a b c d e", 5, []string{"a", " b", " c", " d", " e"}},
		{"ab cd", 4, []string{"a", "b", " ", "cd"}},
		{"héllo", 3, []string{"h", "él", "lo"}},
		{"hi", 4, []string{"h", "i", "", ""}},
	} {
		if got := split(tt.text, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("split(%q, %d) = %q, want %q", tt.text, tt.n, got, tt.want)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("Hello! You said: hi", 0)
	f.Add("  a  b  ", 3)
	f.Add("日本語 テキスト", 7)
	f.Fuzz(func(t *testing.T, text string, n int) {
		n %= 64
		got := split(text, n)
		if joined := strings.Join(got, ""); joined != text {
			t.Errorf("split(%q, %d) joins to %q", text, n, joined)
		}
		if n > 0 && len(got) != n {
			t.Errorf("split(%q, %d) made %d pieces", text, n, len(got))
		}
		if n <= 0 && text != "" && len(got) != max(1, Tokens(text)) {
			t.Errorf("split(%q, %d) made %d pieces for %d words", text, n, len(got), Tokens(text))
		}
	})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `quote " and \ slash`, "ctl \x00\x01\x1f\t\r\n", "bad \xff utf8 \xc3", "é ☃ 😀", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, b, err)
		}
		want, _ := json.Marshal(s)
		var wantS string
		_ = json.Unmarshal(want, &wantS)
		if got != wantS {
			t.Errorf("appendString(%q) decodes to %q, encoding/json gives %q", s, got, wantS)
		}
	})
}

func TestInputs(t *testing.T) {
	for _, tt := range []struct {
		json string
		want []int64 // token count of each input
	}{
		{`null`, nil},
		{`"two words"`, []int64{2}},
		{`["a", "b c"]`, []int64{1, 2}},
		{`[1, 2, 3]`, []int64{3}},
		{`[[1], [2, 3]]`, []int64{1, 2}},
		{`[]`, []int64{}},
	} {
		var in inputs
		if err := json.Unmarshal([]byte(tt.json), &in); err != nil {
			t.Errorf("%s: %v", tt.json, err)
			continue
		}
		var got []int64
		if in != nil {
			got = []int64{}
		}
		for _, i := range in {
			got = append(got, i.count())
		}
		if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("%s: counts %v, want %v", tt.json, got, tt.want)
		}
	}
	var in inputs
	if err := json.Unmarshal([]byte(`{"x":1}`), &in); err == nil {
		t.Error("an object decoded as inputs")
	}
}

func TestTextContent(t *testing.T) {
	for _, tt := range []struct {
		json, want string
		media      int
	}{
		{`"hi"`, "hi", 0},
		{`null`, "", 0},
		{`[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]`, "a b", 1},
		{`[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}},{"type":"file","file":{"file_id":"f"}}]`, "", 2},
	} {
		var c textContent
		if err := json.Unmarshal([]byte(tt.json), &c); err != nil || c.text != tt.want || c.media != tt.media {
			t.Errorf("%s: %q, %d media, %v; want %q, %d", tt.json, c.text, c.media, err, tt.want, tt.media)
		}
	}
}

func TestFragments(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want []string
	}{
		{"", 3, []string{""}},
		{"ab", 3, []string{"a", "b"}},
		{"abcdef", 3, []string{"ab", "cd", "ef"}},
		{"abcdefg", 3, []string{"ab", "cd", "efg"}},
		{"héllo", 2, []string{"hé", "llo"}},
	} {
		if got := fragments(tt.s, tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("fragments(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func FuzzFragments(f *testing.F) {
	f.Add(WeatherArgs, 3)
	f.Add("日本", 5)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = n%16 + 1
		if n < 1 {
			n = 1
		}
		got := fragments(s, n)
		if strings.Join(got, "") != s || len(got) > n {
			t.Errorf("fragments(%q, %d) = %q", s, n, got)
		}
	})
}

func TestIdent(t *testing.T) {
	seen := map[string]bool{}
	for n := range uint64(2000) {
		id := ident("msg_01", n, 22)
		if len(id) != 28 || !strings.HasPrefix(id, "msg_01") || seen[id] {
			t.Fatalf("ident(%d) = %q", n, id)
		}
		seen[id] = true
	}
	if ident("x", 7, 11) != ident("x", 7, 11) {
		t.Error("ident is not deterministic")
	}
}

func TestDisplayName(t *testing.T) {
	for _, tt := range []struct{ id, name, created string }{
		{"claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"},
		{"claude-3-5-haiku-latest", "Claude 3.5 Haiku Latest", "2025-01-01T00:00:00Z"},
		{"gemini-2.5-flash", "Gemini 2.5 Flash", "2025-01-01T00:00:00Z"},
		{"m", "M", "2025-01-01T00:00:00Z"},
	} {
		if got, c := displayName(tt.id), createdAt(tt.id); got != tt.name || c != tt.created {
			t.Errorf("%s: %q, %q; want %q, %q", tt.id, got, c, tt.name, tt.created)
		}
	}
}

func TestSignature(t *testing.T) {
	sig := Signature("Thinking about: hi")
	if len(sig) != 44 || sig != Signature("Thinking about: hi") || sig == Signature("Thinking about: hi!") {
		t.Errorf("Signature = %q", sig)
	}
	if CallSignature("f", []byte(`{"b":1, "a":"x"}`)) != CallSignature("f", []byte(`{"a":"x","b":1}`)) || CallSignature("f", []byte(`{}`)) == CallSignature("g", []byte(`{}`)) {
		t.Error("CallSignature depends on key order or ignores the name")
	}
}

func TestPlanFor(t *testing.T) {
	both := []string{WeatherTool, TimeTool}
	for _, tt := range []struct {
		name      string
		c         config
		conv      Conversation
		b         behaviour
		reasoning string
		text      string
		calls     int
		finish    finish
		output    int64
	}{
		{"default", config{}, Conversation{Said: "hi"}, normal, "", "Hello! You said: hi", 0, finishStop, 4},
		{"nothing said", config{}, Conversation{}, normal, "", "Hello!", 0, finishStop, 1},
		{"media", config{}, Conversation{Media: 1}, normal, "", "Hello! (+1 media)", 0, finishStop, 3},
		{"fixed", config{reply: "ok", fixed: true}, Conversation{Said: "hi"}, normal, "", "ok", 0, finishStop, 1},
		{"cut", config{}, Conversation{Said: "hi", MaxTokens: 2}, normal, "", "Hello! You", 0, finishLength, 2},
		{"tools", config{}, Conversation{Tools: both}, tools, "", "", 2, finishTools, 4},
		{"one tool", config{}, Conversation{Tools: []string{TimeTool, "other"}}, tools, "", "", 1, finishTools, 2},
		{"no tools", config{}, Conversation{Said: "x"}, tools, "", "Hello! You said: x", 0, finishStop, 4},
		{"results", config{reply: "ok", fixed: true}, Conversation{ToolResults: []string{"a", "b c"}}, tools, "", "Results: a; b c", 0, finishStop, 4},
		{"reasoning", config{}, Conversation{Said: "hi"}, reasoning, "Thinking about: hi", "Hello! You said: hi", 0, finishStop, 4},
		{"reasoning cut", config{}, Conversation{Said: "hi", MaxTokens: 2}, reasoningTools, "Thinking about:", "", 0, finishLength, 0},
		{"reasoning tools", config{}, Conversation{Said: "hi", Tools: both, MaxTokens: 3}, reasoningTools, "Thinking about: hi", "", 2, finishTools, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pl := tt.c.planFor(&tt.conv, tt.b)
			if pl.reasoning != tt.reasoning || pl.text != tt.text || len(pl.calls) != tt.calls || pl.finish != tt.finish || pl.output != tt.output || pl.thinking != int64(Tokens(tt.reasoning)) {
				t.Errorf("plan %+v", pl)
			}
		})
	}
}

// wireCase is a request whose answer is kept as a golden transcript.
type wireCase struct {
	name    string
	handler func() http.Handler
	method  string
	path    string
	header  []string
	body    string
}

func newOpenAI(opts ...Option) func() http.Handler {
	return func() http.Handler {
		p := NewProvider(opts...)
		p.seed = 0
		return p
	}
}

func newAnthropic(opts ...Option) func() http.Handler {
	return func() http.Handler { return NewAnthropicProvider(opts...) }
}

func newGemini(opts ...Option) func() http.Handler {
	return func() http.Handler { return NewGeminiProvider(opts...) }
}

var (
	openaiTools    = `"tools":[{"type":"function","function":{"name":"get_weather"}},{"type":"function","function":{"name":"get_time"}}]`
	anthropicTools = `"tools":[{"name":"get_weather","input_schema":{"type":"object"}},{"name":"get_time","input_schema":{"type":"object"}}]`
	geminiTools    = `"tools":[{"functionDeclarations":[{"name":"get_weather"},{"name":"get_time"}]}]`
	anthropicHdr   = []string{"Anthropic-Version", "2023-06-01"}
)

var wireCases = []wireCase{
	{"openai_plain", newOpenAI(WithCachedTokens(1)), "POST", "/v1/chat/completions", nil, `{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi there"}]}`},
	{"openai_plain_stream", newOpenAI(), "POST", "/v1/chat/completions", nil, `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi there"}]}`},
	{"openai_reasoning_tools", newOpenAI(), "POST", "/v1/chat/completions", nil, `{"model":"fake-reasoning-tools",` + openaiTools + `,"messages":[{"role":"user","content":"weather?"}]}`},
	{"openai_reasoning_tools_stream", newOpenAI(), "POST", "/v1/chat/completions", nil, `{"model":"fake-reasoning-tools","stream":true,"stream_options":{"include_usage":true},` + openaiTools + `,"messages":[{"role":"user","content":"weather?"}]}`},
	{"openai_tool_results", newOpenAI(), "POST", "/v1/chat/completions", nil, `{"model":"fake-tools",` + openaiTools + `,"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}},{"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"18C"},{"role":"tool","tool_call_id":"call_2","content":"14:00"}]}`},
	{"openai_stream_error", newOpenAI(), "POST", "/v1/chat/completions", nil, `{"model":"fake-stream-error","stream":true,"messages":[{"role":"user","content":"hi"}]}`},

	{"anthropic_plain", newAnthropic(WithCachedTokens(1)), "POST", "/v1/messages", anthropicHdr, `{"model":"claude-sonnet-5-5","max_tokens":100,"system":[{"type":"text","text":"be brief"}],"messages":[{"role":"user","content":"hi there"}]}`},
	{"anthropic_plain_stream", newAnthropic(), "POST", "/v1/messages", anthropicHdr, `{"model":"claude-sonnet-5-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi there"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]}`},
	{"anthropic_reasoning_tools", newAnthropic(), "POST", "/v1/messages", anthropicHdr, `{"model":"fake-reasoning-tools","max_tokens":100,` + anthropicTools + `,"messages":[{"role":"user","content":"weather?"}]}`},
	{"anthropic_reasoning_tools_stream", newAnthropic(), "POST", "/v1/messages", anthropicHdr, `{"model":"fake-reasoning-tools","max_tokens":100,"stream":true,` + anthropicTools + `,"messages":[{"role":"user","content":"weather?"}]}`},
	{"anthropic_tool_results", newAnthropic(), "POST", "/v1/messages", anthropicHdr, `{"model":"fake-tools","max_tokens":100,` + anthropicTools + `,"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}},{"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18C"},{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"14:00"}]}]}]}`},
	{"anthropic_stream_error", newAnthropic(), "POST", "/v1/messages", anthropicHdr, `{"model":"fake-stream-error","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`},
	{"anthropic_rate_limited", newAnthropic(), "POST", "/v1/messages", anthropicHdr, `{"model":"fake-error-429","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`},
	{"anthropic_count_tokens", newAnthropic(), "POST", "/v1/messages/count_tokens", anthropicHdr, `{"model":"m","system":"be brief","messages":[{"role":"user","content":"hi there"}]}`},
	{"anthropic_models", newAnthropic(), "GET", "/v1/models", anthropicHdr, ``},

	{"gemini_plain", newGemini(WithCachedTokens(1)), "POST", "/v1beta/models/gemini-2.5-flash:generateContent", nil, `{"systemInstruction":{"parts":[{"text":"be brief"}]},"contents":[{"role":"user","parts":[{"text":"hi there"}]}]}`},
	{"gemini_plain_stream", newGemini(), "POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", nil, `{"contents":[{"parts":[{"text":"hi there"},{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}]}`},
	{"gemini_plain_array", newGemini(), "POST", "/v1/models/gemini-2.5-flash:streamGenerateContent", nil, `{"contents":[{"parts":[{"text":"hi there"}]}]}`},
	{"gemini_reasoning_tools", newGemini(), "POST", "/v1beta/models/fake-reasoning-tools:generateContent", nil, `{"generationConfig":{"thinkingConfig":{"includeThoughts":true}},` + geminiTools + `,"contents":[{"parts":[{"text":"weather?"}]}]}`},
	{"gemini_reasoning_tools_stream", newGemini(), "POST", "/v1beta/models/fake-reasoning-tools:streamGenerateContent?alt=sse", nil, `{"generation_config":{"thinking_config":{"include_thoughts":true}},` + geminiTools + `,"contents":[{"parts":[{"text":"weather?"}]}]}`},
	{"gemini_tool_results", newGemini(), "POST", "/v1beta/models/fake-tools:generateContent", nil, `{` + geminiTools + `,"contents":[{"parts":[{"text":"weather?"}]},{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{}},"thoughtSignature":"skip_thought_signature_validator"},{"functionCall":{"name":"get_time","args":{}}}]},{"parts":[{"functionResponse":{"name":"get_weather","response":{"result":"18C"}}},{"functionResponse":{"name":"get_time","response":{"result":"14:00"}}}]}]}`},
	{"gemini_stream_error", newGemini(), "POST", "/v1beta/models/fake-stream-error:streamGenerateContent?alt=sse", nil, `{"contents":[{"parts":[{"text":"hi"}]}]}`},
	{"gemini_stream_error_array", newGemini(), "POST", "/v1beta/models/fake-stream-error:streamGenerateContent", nil, `{"contents":[{"parts":[{"text":"hi"}]}]}`},
	{"gemini_rate_limited", newGemini(), "POST", "/v1beta/models/fake-error-429:generateContent", nil, `{"contents":[{"parts":[{"text":"hi"}]}]}`},
	{"gemini_count_tokens", newGemini(), "POST", "/v1beta/models/m:countTokens", nil, `{"contents":[{"parts":[{"text":"one two three"}]}]}`},
	{"gemini_models", newGemini(), "GET", "/v1beta/models", nil, ``},
}

// goldenHeaders are the response headers a transcript keeps.
var goldenHeaders = []string{"Content-Type", "Content-Disposition", "Request-Id", "Retry-After", "X-Request-Id"}

var created = regexp.MustCompile(`"created":\d+`)

// transcript serves c and returns its answer: the status, the kept
// headers, a blank line and the body.
func (c wireCase) transcript() []byte {
	req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	w := httptest.NewRecorder()
	c.handler().ServeHTTP(w, req)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n", w.Code)
	for _, h := range goldenHeaders {
		if v := w.Header().Get(h); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", h, v)
		}
	}
	b.WriteByte('\n')
	b.Write(created.ReplaceAll(w.Body.Bytes(), []byte(`"created":1700000000`)))
	return b.Bytes()
}

// TestWireGolden compares each fake's answers with the transcripts in
// testdata/, which -update rewrites. The transcripts show exactly what the
// fakes send, for the authors of the codecs.
func TestWireGolden(t *testing.T) {
	for _, c := range wireCases {
		t.Run(c.name, func(t *testing.T) {
			got := c.transcript()
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("answer differs from %s (rerun with -update to accept):\n%s", path, got)
			}
			// Every JSON document the fake wrote is valid.
			_, body, _ := bytes.Cut(got, []byte("\n\n"))
			for _, doc := range jsonDocuments(body) {
				if !json.Valid(doc) {
					t.Errorf("invalid JSON %s", doc)
				}
			}
		})
	}
}

// jsonDocuments returns the JSON documents of a body: the body itself, or
// the data of each event of an event stream.
func jsonDocuments(body []byte) [][]byte {
	if !bytes.HasPrefix(body, []byte("data: ")) && !bytes.HasPrefix(body, []byte("event: ")) {
		return [][]byte{body}
	}
	var out [][]byte
	for _, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok && string(data) != "[DONE]" {
			out = append(out, data)
		}
	}
	return out
}

// seedBodies adds the request bodies of the wire cases whose path contains
// part to f's corpus.
func seedBodies(f *testing.F, part string) {
	for _, c := range wireCases {
		if strings.Contains(c.path, part) && c.body != "" {
			f.Add([]byte(c.body), false)
		}
	}
}

// FuzzParseAnthropic checks that any body parses without panic, and that
// every answer written for it is valid JSON.
func FuzzParseAnthropic(f *testing.F) {
	seedBodies(f, "/v1/messages")
	f.Fuzz(func(t *testing.T, body []byte, count bool) {
		conv, e := parseAnthropic(body, count)
		if e != nil {
			if !json.Valid(appendAnthropicError(nil, e, "req_011C")) {
				t.Errorf("invalid error JSON for %q", body)
			}
			return
		}
		for _, b := range []behaviour{normal, reasoningTools, tools} {
			pl := (&config{cached: 1}).planFor(conv, b)
			out := appendAnthropicMessage(nil, "msg_01", conv.Model, &pl, []string{"toolu_1", "toolu_2"})
			if !json.Valid(out) {
				t.Errorf("invalid message %s", out)
			}
		}
	})
}

// FuzzParseGemini checks that any body parses without panic, and that
// every answer written for it is valid JSON.
func FuzzParseGemini(f *testing.F) {
	seedBodies(f, "/models/")
	f.Fuzz(func(t *testing.T, body []byte, count bool) {
		conv, e := parseGemini(body, count)
		if e != nil {
			if !json.Valid(appendGeminiError(nil, e, true)) || !json.Valid(appendGeminiError(nil, e, false)) {
				t.Errorf("invalid error JSON for %q", body)
			}
			return
		}
		for _, b := range []behaviour{normal, reasoningTools, tools} {
			pl := (&config{cached: 1}).planFor(conv, b)
			g := geminiAnswer{pl: &pl, model: conv.Model, id: "r", thoughts: true}
			if out := g.appendResponse(nil, g.parts(nil), pl.finish, pl.completion()); !json.Valid(out) {
				t.Errorf("invalid response %s", out)
			}
		}
	})
}

// FuzzChatSummary checks that any chat body summarises and validates
// without panic, and that every answer written for it is valid JSON.
func FuzzChatSummary(f *testing.F) {
	seedBodies(f, "/v1/chat/completions")
	f.Fuzz(func(t *testing.T, body []byte, _ bool) {
		var req request
		if json.Unmarshal(body, &req) != nil {
			return
		}
		conv := chatSummary(&req)
		checkToolMessages(req.Messages)
		for _, b := range []behaviour{normal, reasoningTools, tools} {
			pl := (&config{}).planFor(&conv, b)
			u := usage{prompt: pl.prompt, completion: pl.completion(), reasoning: pl.thinking}
			if out := appendChatPlan(nil, "chatcmpl-x", 1, req.Model, &pl, []string{"call_1", "call_2"}, &u); !json.Valid(out) {
				t.Errorf("invalid completion %s", out)
			}
		}
	})
}
