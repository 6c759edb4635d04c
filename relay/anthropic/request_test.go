package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// partView shows a chat.Part in golden files, its kind by name.
type partView struct {
	Kind      string         `json:"kind"`
	Text      string         `json:"text,omitempty"`
	Signature string         `json:"signature,omitempty"`
	Media     *chat.Media    `json:"media,omitempty"`
	Call      *chat.ToolCall `json:"call,omitempty"`
	Result    *resultView    `json:"result,omitempty"`
	Cache     bool           `json:"cache,omitempty"`
}

type resultView struct {
	CallID  string     `json:"call_id"`
	Name    string     `json:"name"`
	Parts   []partView `json:"parts"`
	IsError bool       `json:"is_error,omitempty"`
}

func viewParts(ps []chat.Part) []partView {
	out := make([]partView, len(ps))
	for i, p := range ps {
		out[i] = partView{Kind: p.Kind.String(), Text: p.Text, Signature: p.Signature, Media: p.Media, Call: p.Call, Cache: p.Cache}
		if r := p.Result; r != nil {
			out[i].Result = &resultView{CallID: r.CallID, Name: r.Name, Parts: viewParts(r.Parts), IsError: r.IsError}
		}
	}
	return out
}

// viewRequest shows a chat.Request in golden files.
func viewRequest(tb testing.TB, c *chat.Request) []byte {
	tb.Helper()
	type msg struct {
		Role  chat.Role  `json:"role"`
		Parts []partView `json:"parts"`
	}
	v := struct {
		*chat.Request
		System   []partView `json:"System"`
		Messages []msg      `json:"Messages"`
	}{Request: c, System: viewParts(c.System)}
	for _, m := range c.Messages {
		v.Messages = append(v.Messages, msg{Role: m.Role, Parts: viewParts(m.Parts)})
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// encode encodes c for a channel with config cfg.
func encode(tb testing.TB, c *chat.Request, cfg string, op relay.Op, stream bool) []byte {
	tb.Helper()
	call := &relay.Call{Request: &relay.Request{Protocol: aiproxy.ProtocolOpenAI, Body: []byte(`{}`)}, Op: op, Mode: aiproxy.ModeChat, Channel: channel(cfg), Model: "claude", UpstreamModel: "claude-sonnet-4-6", Stream: stream}
	b, err := Codec{}.EncodeRequest(c, call)
	if err != nil {
		tb.Fatalf("EncodeRequest: %v", err)
	}
	if !json.Valid(b) {
		tb.Fatalf("not JSON: %s", b)
	}
	return b
}

func decode(tb testing.TB, body string) *chat.Request {
	tb.Helper()
	c, err := Codec{}.DecodeRequest(&relay.Request{Body: []byte(body)})
	if err != nil {
		tb.Fatalf("DecodeRequest: %v", err)
	}
	return c
}

// TestRequestGolden decodes a request with every common feature into the
// neutral form and encodes it again, comparing both with golden files.
func TestRequestGolden(t *testing.T) {
	body := readFixture(t, "request_full.json")
	c := decode(t, string(body))
	golden(t, "request_full.chat.golden", viewRequest(t, c))

	// Decoded results, beyond the golden file.
	if len(c.System) != 2 || !c.System[1].Cache || c.System[0].Cache {
		t.Errorf("system %+v", c.System)
	}
	if len(c.Messages) != 5 || c.Messages[3].Role != chat.RoleSystem {
		t.Fatalf("messages %+v", c.Messages)
	}
	call := c.Messages[1].Parts[3].Call
	if call == nil || call.ID != "toolu_01A09q90qw90lq917835lq9" || gjson.Get(call.Arguments, "location").Str != "San Francisco, CA" {
		t.Errorf("tool call %+v", call)
	}
	res := c.Messages[2].Parts[1].Result
	if res == nil || res.Name != "get_weather" || res.CallID != call.ID || len(res.Parts) != 2 || res.Parts[1].Media.MediaType != "image/jpeg" || !c.Messages[2].Parts[1].Cache {
		t.Errorf("tool result %+v", res)
	}
	if r := c.Reasoning; r == nil || !r.Adaptive || r.Effort != "high" {
		t.Errorf("reasoning %+v", r)
	}
	if c.ParallelToolCalls == nil || *c.ParallelToolCalls || c.ToolChoice.Mode != chat.ToolAuto {
		t.Errorf("tool choice %+v parallel %v", c.ToolChoice, c.ParallelToolCalls)
	}
	if c.User != "user_2f1e5b9c_account_7d3a_session_0e4b" || c.MaxTokens != 16000 || !c.Stream || *c.Temperature != 1 || c.Stop[0] != "\n\nHuman:" {
		t.Errorf("fields %+v", c)
	}
	if len(c.Tools) != 2 || !c.Tools[1].Strict || gjson.GetBytes(c.Tools[0].Parameters, "required.0").Str != "location" {
		t.Errorf("tools %+v", c.Tools)
	}

	out := encode(t, c, "", relay.OpGenerate, true)
	golden(t, "request_full.encoded.golden", indent(t, out))
	// The re-encoding says what the original said (but for the cache
	// TTL and the document's citations, which the neutral form does not
	// carry).
	orig := gjson.ParseBytes(body)
	enc := gjson.ParseBytes(out)
	for _, path := range []string{"model", "max_tokens", "stream", "tool_choice", "thinking", "output_config", "metadata", "stop_sequences", "temperature", "messages.0.content.0", "messages.0.content.1", "messages.1", "tools.0"} {
		if a, b := compact(orig.Get(path).Raw), compact(enc.Get(path).Raw); a != b {
			t.Errorf("%s: %s, want %s", path, b, a)
		}
	}
	if enc.Get("messages.0.content.2.cache_control").Raw != `{"type":"ephemeral"}` || enc.Get("messages.0.content.3.title").Str != "trip.pdf" {
		t.Errorf("messages.0: %s", enc.Get("messages.0").Raw)
	}
	if n := len(enc.Get("system").Array()); n != 3 || enc.Get("system.2.text").Str != "Answer in one sentence." {
		t.Errorf("system-role message not moved into the system prompt: %s", enc.Get("system").Raw)
	}
	if enc.Get("messages.2.content.0.type").Str != "tool_result" || enc.Get("messages.2.content.1.text").Str != "Here you are." {
		t.Errorf("tool result not first: %s", enc.Get("messages.2").Raw)
	}
	if len(enc.Get("messages").Array()) != 3 || enc.Get("messages.2.content.2.text").Str != "Thanks. And is it warmer in Paris?" {
		t.Errorf("consecutive user messages not merged: %s", enc.Get("messages").Raw)
	}
	if enc.Get("tools.1.cache_control").Exists() || !enc.Get("tools.1.strict").Bool() {
		t.Errorf("tool 1: %s", enc.Get("tools.1").Raw)
	}
	if enc.Get("context_management").Exists() {
		t.Errorf("context_management sent")
	}
}

func compact(raw string) string {
	var v any
	if json.Unmarshal([]byte(raw), &v) != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDecodeRequest(t *testing.T) {
	base := func(extra string) string {
		return `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	msgs := func(content string) string {
		return `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":` + content + `}]}`
	}
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, c *chat.Request)
	}{
		{"system string and leading system messages", `{"model":"m","max_tokens":1,"system":"S","messages":[{"role":"system","content":"L"},{"role":"user","content":"u"},{"role":"system","content":"mid"}]}`, func(t *testing.T, c *chat.Request) {
			if len(c.System) != 2 || c.System[0].Text != "S" || c.System[1].Text != "L" || len(c.Messages) != 2 || c.Messages[1].Role != chat.RoleSystem || c.Messages[1].Parts[0].Text != "mid" {
				t.Errorf("%+v", c)
			}
		}},
		{"thinking enabled", base(`,"thinking":{"type":"enabled","budget_tokens":2048,"display":"omitted"}`), func(t *testing.T, c *chat.Request) {
			if r := c.Reasoning; r == nil || r.Budget != 2048 || !r.Hide || r.Adaptive {
				t.Errorf("%+v", r)
			}
		}},
		{"thinking disabled", base(`,"thinking":{"type":"disabled"}`), func(t *testing.T, c *chat.Request) {
			if r := c.Reasoning; r == nil || !r.Off {
				t.Errorf("%+v", r)
			}
		}},
		{"effort alone", base(`,"output_config":{"effort":"max"}`), func(t *testing.T, c *chat.Request) {
			if r := c.Reasoning; r == nil || r.Effort != "max" || r.Adaptive {
				t.Errorf("%+v", r)
			}
		}},
		{"between tools", base(`,"thinking":{"type":"between_tools"}`), func(t *testing.T, c *chat.Request) {
			if r := c.Reasoning; r == nil || !r.Adaptive {
				t.Errorf("%+v", r)
			}
		}},
		{"output_config format", base(`,"output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}}}}}`), func(t *testing.T, c *chat.Request) {
			if f := c.Format; f == nil || f.Type != chat.FormatJSONSchema || !f.Strict || gjson.GetBytes(f.Schema, "properties.a.type").Str != "string" {
				t.Errorf("%+v", f)
			}
		}},
		{"beta output_format", base(`,"output_format":{"type":"json_schema","schema":{"type":"object"}}`), func(t *testing.T, c *chat.Request) {
			if f := c.Format; f == nil || string(f.Schema) != `{"type":"object"}` {
				t.Errorf("%+v", f)
			}
		}},
		{"tool choices", base(`,"tools":[{"name":"t","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"t"}`), func(t *testing.T, c *chat.Request) {
			if tc := c.ToolChoice; tc == nil || tc.Mode != chat.ToolNamed || tc.Name != "t" || c.ParallelToolCalls != nil {
				t.Errorf("%+v", tc)
			}
		}},
		{"tool choice any", base(`,"tool_choice":{"type":"any"}`), func(t *testing.T, c *chat.Request) {
			if c.ToolChoice.Mode != chat.ToolRequired {
				t.Errorf("%+v", c.ToolChoice)
			}
		}},
		{"tool choice none", base(`,"tool_choice":{"type":"none"}`), func(t *testing.T, c *chat.Request) {
			if c.ToolChoice.Mode != chat.ToolNone {
				t.Errorf("%+v", c.ToolChoice)
			}
		}},
		{"sampling", base(`,"temperature":0.2,"top_p":0.9,"top_k":40,"stop_sequences":["END"],"metadata":{"user_id":"u1"}`), func(t *testing.T, c *chat.Request) {
			if *c.Temperature != 0.2 || *c.TopP != 0.9 || *c.TopK != 40 || c.Stop[0] != "END" || c.User != "u1" {
				t.Errorf("%+v", c)
			}
		}},
		{"hints ignored", base(`,"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},"service_tier":"auto","inference_geo":"us","speed":"fast","diagnostics":{"previous_message_id":"msg_1"},"cache_control":{"type":"ephemeral"},"container":"container_1","mcp_servers":[],"temperature":null,"future_field":{"x":1}`), func(t *testing.T, c *chat.Request) {
			if c.Temperature != nil || len(c.Messages) != 1 {
				t.Errorf("%+v", c)
			}
		}},
		{"text document and url pdf", msgs(`[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain words"},"title":"notes"},{"type":"document","source":{"type":"url","url":"https://example.com/a.pdf"}}]`), func(t *testing.T, c *chat.Request) {
			m0, m1 := c.Messages[0].Parts[0].Media, c.Messages[0].Parts[1].Media
			if m0.MediaType != "text/plain" || m0.Data != "cGxhaW4gd29yZHM=" || m0.Name != "notes" || m1.URL != "https://example.com/a.pdf" || m1.MediaType != "application/pdf" {
				t.Errorf("%+v %+v", m0, m1)
			}
		}},
		{"tool result string, error, joined id", `{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"call_1__sig_c2ln","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1__sig_c2ln","content":"boom","is_error":true}]}]}`, func(t *testing.T, c *chat.Request) {
			tc, r := c.Messages[0].Parts[0].Call, c.Messages[1].Parts[0].Result
			if tc.ID != "call_1" || tc.Signature != "sig" || tc.Arguments != "{}" || r.CallID != "call_1" || r.Name != "f" || !r.IsError || r.Parts[0].Text != "boom" {
				t.Errorf("%+v %+v", tc, r)
			}
		}},
		{"citations ignored", msgs(`[{"type":"text","text":"cited","citations":[{"type":"char_location","cited_text":"x","document_index":0,"start_char_index":0,"end_char_index":1}]}]`), func(t *testing.T, c *chat.Request) {
			if p := c.Messages[0].Parts[0]; p.Text != "cited" {
				t.Errorf("%+v", p)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, decode(t, tt.body))
		})
	}
}

func TestDecodeRequestRefused(t *testing.T) {
	msgs := func(content string) string {
		return `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":` + content + `}]}`
	}
	base := func(extra string) string {
		return `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	tests := []struct {
		name, body, field, says string
	}{
		{"server tool", base(`,"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5}]`), "tools.0.type", "web_search_20250305"},
		{"bash tool", base(`,"tools":[{"name":"ok","input_schema":{"type":"object"}},{"type":"bash_20250124","name":"bash"}]`), "tools.1.type", "bash_20250124"},
		{"server tool use block", `{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"q"}}]}]}`, "messages.0.content.0", "server_tool_use"},
		{"web search result", msgs(`[{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]}]`), "messages.0.content.0", "web_search_tool_result"},
		{"container upload", msgs(`[{"type":"container_upload","file_id":"file_1"}]`), "messages.0.content.0", "container_upload"},
		{"search result", msgs(`[{"type":"search_result","source":"s","title":"t","content":[]}]`), "messages.0.content.0", "search_result"},
		{"file image", msgs(`[{"type":"image","source":{"type":"file","file_id":"file_1"}}]`), "messages.0.content.0.source", "Files API"},
		{"document context", msgs(`[{"type":"document","source":{"type":"text","data":"x"},"context":"from the wiki"}]`), "messages.0.content.0.context", "context"},
		{"content document", msgs(`[{"type":"document","source":{"type":"content","content":"x"}}]`), "messages.0.content.0.source", "content"},
		{"programmatic caller", `{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{},"caller":{"type":"code_execution_20250825","tool_id":"srvtoolu_1"}}]}]}`, "messages.0.content.0.caller", "code execution"},
		{"mcp servers", base(`,"mcp_servers":[{"type":"url","url":"https://mcp.example","name":"x"}]`), "mcp_servers", "MCP"},
		{"skills", base(`,"container":{"skills":[{"type":"anthropic","skill_id":"pptx"}]}`), "container.skills", "Skills"},
		{"compaction", base(`,"compaction":{"type":"auto"}`), "compaction", "Compaction"},
		{"thread", base(`,"thread":{"type":"continue","previous_message_id":"msg_1"}`), "thread", "thread"},
		{"max_tokens 0", `{"model":"m","max_tokens":0,"messages":[]}`, "max_tokens", "cache"},
		{"bad role", `{"model":"m","max_tokens":1,"messages":[{"role":"tool","content":"x"}]}`, "messages.0.role", "role"},
		{"no content", `{"model":"m","max_tokens":1,"messages":[{"role":"user"}]}`, "messages.0.content", "content"},
		{"tool result of a server tool block", msgs(`[{"type":"tool_result","tool_use_id":"t","content":[{"type":"tool_reference","tool_name":"x"}]}]`), "messages.0.content.0.content.0", "tool_reference"},
		{"unknown block", msgs(`[{"type":"hologram"}]`), "messages.0.content.0", "hologram"},
		{"non-text system", `{"model":"m","max_tokens":1,"system":[{"type":"image","source":{"type":"url","url":"https://x"}}],"messages":[]}`, "system.0", "text"},
		{"bad thinking", base(`,"thinking":{"type":"enabled"}`), "thinking.budget_tokens", "budget"},
		{"bad effort", base(`,"output_config":{"effort":"extreme"}`), "output_config.effort", "effort"},
		{"bad format", base(`,"output_config":{"format":{"type":"regex"}}`), "output_config.format.type", "json_schema"},
		{"tool input not an object", `{"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":"x"}]}]}`, "messages.0.content.0.input", "object"},
		{"messages missing", `{"model":"m","max_tokens":1}`, "messages", "messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Codec{}.DecodeRequest(&relay.Request{Body: []byte(tt.body)})
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorField(err) != tt.field || !strings.Contains(aiproxy.ErrorMessage(err), tt.says) {
				t.Fatalf("err = %v (field %q), want EINVALID on %s saying %q", err, aiproxy.ErrorField(err), tt.field, tt.says)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func text(s string) chat.Part { return chat.Part{Kind: chat.KindText, Text: s} }

func user(ps ...chat.Part) chat.Message { return chat.Message{Role: chat.RoleUser, Parts: ps} }

func assistant(ps ...chat.Part) chat.Message {
	return chat.Message{Role: chat.RoleAssistant, Parts: ps}
}

func toolCall(id, name, args string) chat.Part {
	return chat.Part{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: id, Name: name, Arguments: args}}
}

func toolResult(id string, ps ...chat.Part) chat.Part {
	return chat.Part{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: id, Parts: ps}}
}

func TestEncodeRequest(t *testing.T) {
	hi := []chat.Message{user(text("hi"))}
	tests := []struct {
		name   string
		c      chat.Request
		cfg    string
		op     relay.Op
		stream bool
		check  func(t *testing.T, r gjson.Result)
	}{
		{"defaults", chat.Request{Messages: hi}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("model").Str != "claude-sonnet-4-6" || r.Get("max_tokens").Int() != DefaultMaxTokens || r.Get("stream").Exists() || r.Get("thinking").Exists() || r.Get("system").Exists() {
				t.Errorf("%s", r.Raw)
			}
			if r.Get("messages.0.role").Str != "user" || r.Get("messages.0.content.0.text").Str != "hi" {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"config max tokens, stream", chat.Request{Messages: hi}, `{"maxTokens":1234}`, relay.OpGenerate, true, func(t *testing.T, r gjson.Result) {
			if r.Get("max_tokens").Int() != 1234 || !r.Get("stream").Bool() {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"adaptive from effort", chat.Request{Messages: hi, Reasoning: &chat.Reasoning{Effort: "minimal"}}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("thinking").Raw != `{"type":"adaptive"}` || r.Get("output_config.effort").Str != "low" {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"adaptive from budget, hidden", chat.Request{Messages: hi, Reasoning: &chat.Reasoning{Budget: 20000, Hide: true}}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("thinking").Raw != `{"type":"adaptive","display":"omitted"}` || r.Get("output_config.effort").Str != "high" || r.Get("max_tokens").Int() != DefaultMaxTokens {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"budget from effort", chat.Request{Messages: hi, MaxTokens: 4000, Reasoning: &chat.Reasoning{Effort: "high"}}, `{"thinking":"budget"}`, relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("thinking").Raw != `{"type":"enabled","budget_tokens":24576}` || r.Get("max_tokens").Int() != 24576+4000 || r.Get("output_config").Exists() {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"budget at least 1024", chat.Request{Messages: hi, Reasoning: &chat.Reasoning{Budget: 100}}, `{"thinking":"budget"}`, relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("thinking.budget_tokens").Int() != 1024 || r.Get("max_tokens").Int() != DefaultMaxTokens {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"budget dynamic, adaptive asked", chat.Request{Messages: hi, Reasoning: &chat.Reasoning{Budget: -1, Adaptive: true}}, `{"thinking":"budget"}`, relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("thinking.budget_tokens").Int() != 8192 || r.Get("max_tokens").Int() != 8192+8192 {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"thinking off", chat.Request{Messages: hi, Reasoning: &chat.Reasoning{Off: true, Effort: "high"}}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("thinking").Raw != `{"type":"disabled"}` || r.Get("output_config").Exists() {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"json schema and json mode", chat.Request{Messages: hi, Format: &chat.Format{Type: chat.FormatJSONSchema, Name: "x", Schema: []byte(`{"type":"object","properties":{"a":{"type":"integer"}}}`)}}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("output_config.format.type").Str != "json_schema" || r.Get("output_config.format.schema.properties.a.type").Str != "integer" {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"json mode", chat.Request{Messages: hi, Format: &chat.Format{Type: chat.FormatJSON}}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("output_config.format").Raw != `{"type":"json_schema","schema":{"type":"object"}}` {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"sampling and metadata", chat.Request{Messages: hi, Temperature: ptr(0.5), TopP: ptr(0.9), TopK: ptr[int64](5), Stop: []string{"a", "b"}, User: "u-1", PresencePenalty: ptr(0.0), FrequencyPenalty: ptr(0.0)}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("temperature").Num != 0.5 || r.Get("top_p").Num != 0.9 || r.Get("top_k").Int() != 5 || r.Get("stop_sequences.1").Str != "b" || r.Get("metadata.user_id").Str != "u-1" {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"tools and choices", chat.Request{Messages: hi, Tools: []chat.Tool{{Name: "a", Description: "d", Parameters: []byte(`{"type":"object","properties":{"x":{"type":"string","enum":["p","q"]}},"required":["x"]}`), Strict: true}, {Name: "b"}},
			ToolChoice: &chat.ToolChoice{Mode: chat.ToolRequired}, ParallelToolCalls: ptr(false)}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("tools.0.input_schema.properties.x.enum.1").Str != "q" || !r.Get("tools.0.strict").Bool() || r.Get("tools.1.input_schema").Raw != `{"type":"object","properties":{}}` {
				t.Errorf("%s", r.Raw)
			}
			if r.Get("tool_choice").Raw != `{"type":"any","disable_parallel_tool_use":true}` {
				t.Errorf("%s", r.Get("tool_choice").Raw)
			}
		}},
		{"named tool", chat.Request{Messages: hi, Tools: []chat.Tool{{Name: "a"}}, ToolChoice: &chat.ToolChoice{Mode: chat.ToolNamed, Name: "a"}}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("tool_choice").Raw != `{"type":"tool","name":"a"}` {
				t.Errorf("%s", r.Get("tool_choice").Raw)
			}
		}},
		{"no parallel without choice; none", chat.Request{Messages: hi, Tools: []chat.Tool{{Name: "a"}}, ParallelToolCalls: ptr(false)}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("tool_choice").Raw != `{"type":"auto","disable_parallel_tool_use":true}` {
				t.Errorf("%s", r.Get("tool_choice").Raw)
			}
		}},
		{"tool choice without tools", chat.Request{Messages: hi, ToolChoice: &chat.ToolChoice{Mode: chat.ToolNone}}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("tool_choice").Exists() || r.Get("tools").Exists() {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"history reshaped", chat.Request{
			System: []chat.Part{{Kind: chat.KindText, Text: "sys", Cache: true}, text("")},
			Messages: []chat.Message{
				user(text("q1")), user(text("q2")),
				{Role: chat.RoleSystem, Parts: []chat.Part{text("be brief")}},
				assistant(chat.Part{Kind: chat.KindThinking, Text: "openai reasoning"}, text(""), toolCall("functions.get:0", "get", ` {"a":1} `), toolCall("call_2", "get", "")),
				user(text("after"), toolResult("functions.get:0", text("r1")), toolResult("call_2", text("r2"), chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "image/png", Data: "iVBO"}})),
				assistant(text("")),
				user(text("again")),
			}}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("system").Raw != `[{"type":"text","text":"sys","cache_control":{"type":"ephemeral"}},{"type":"text","text":"be brief"}]` {
				t.Errorf("system %s", r.Get("system").Raw)
			}
			ms := r.Get("messages").Array()
			if len(ms) != 3 {
				t.Fatalf("messages %s", r.Get("messages").Raw)
			}
			if ms[0].Get("content.#").Int() != 2 || ms[0].Get("content.1.text").Str != "q2" {
				t.Errorf("merge %s", ms[0].Raw)
			}
			if ms[1].Get("content.#").Int() != 2 || ms[1].Get("content.0.id").Str != "functions_get_0" || ms[1].Get("content.0.input.a").Int() != 1 || ms[1].Get("content.1.input").Raw != "{}" {
				t.Errorf("assistant %s", ms[1].Raw)
			}
			c := ms[2].Get("content").Array()
			if len(c) != 4 || c[0].Get("tool_use_id").Str != "functions_get_0" || c[1].Get("content.1.source.media_type").Str != "image/png" || c[2].Get("text").Str != "after" || c[3].Get("text").Str != "again" {
				t.Errorf("user %s", ms[2].Raw)
			}
		}},
		{"signed thinking kept, thinking asked", chat.Request{Reasoning: &chat.Reasoning{Effort: "low"}, Messages: []chat.Message{
			user(text("q")),
			assistant(chat.Part{Kind: chat.KindThinking, Text: "t", Signature: "sig"}, chat.Part{Kind: chat.KindRedactedThinking, Signature: "enc"}, toolCall("c", "f", "{}")),
			user(toolResult("c", text("r"))),
		}}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("messages.1.content.0").Raw != `{"type":"thinking","thinking":"t","signature":"sig"}` || r.Get("messages.1.content.1").Raw != `{"type":"redacted_thinking","data":"enc"}` || !r.Get("thinking").Exists() {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"tool loop without signed thinking goes without thinking", chat.Request{Reasoning: &chat.Reasoning{Effort: "low"}, Messages: []chat.Message{
			user(text("q")),
			assistant(chat.Part{Kind: chat.KindThinking, Text: "unsigned"}, toolCall("c", "f", "{}")),
			user(toolResult("c", text("r"))),
		}}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if r.Get("thinking").Exists() || r.Get("output_config.effort").Str != "low" || r.Get("messages.1.content.#").Int() != 1 {
				t.Errorf("%s", r.Raw)
			}
		}},
		{"media", chat.Request{Messages: []chat.Message{user(
			chat.Part{Kind: chat.KindMedia, Media: &chat.Media{URL: "https://example.com/cat.png", Detail: "high"}, Cache: true},
			chat.Part{Kind: chat.KindMedia, Media: &chat.Media{URL: "data:image/webp;base64,UklGR"}},
			chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "application/pdf", Data: "JVBERi0=", Name: "a.pdf"}},
			chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "application/pdf", URL: "https://example.com/a.pdf"}},
			chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "text/plain", Data: "aGVsbG8="}},
		)}}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			c := r.Get("messages.0.content").Array()
			if c[0].Raw != `{"type":"image","source":{"type":"url","url":"https://example.com/cat.png"},"cache_control":{"type":"ephemeral"}}` {
				t.Errorf("url image %s", c[0].Raw)
			}
			if c[1].Get("source.type").Str != "base64" || c[1].Get("source.media_type").Str != "image/webp" || c[1].Get("source.data").Str != "UklGR" {
				t.Errorf("data URL %s", c[1].Raw)
			}
			if c[2].Get("type").Str != "document" || c[2].Get("source.data").Str != "JVBERi0=" || c[2].Get("title").Str != "a.pdf" {
				t.Errorf("pdf %s", c[2].Raw)
			}
			if c[3].Get("source.type").Str != "url" || c[4].Get("source.type").Str != "text" || c[4].Get("source.data").Str != "hello" {
				t.Errorf("documents %s %s", c[3].Raw, c[4].Raw)
			}
		}},
		{"at most four cache breakpoints, the last ones", chat.Request{
			System:   []chat.Part{{Kind: chat.KindText, Text: "s1", Cache: true}, {Kind: chat.KindText, Text: "s2", Cache: true}},
			Messages: []chat.Message{user(chat.Part{Kind: chat.KindText, Text: "u1", Cache: true}, chat.Part{Kind: chat.KindText, Text: "u2", Cache: true}, chat.Part{Kind: chat.KindToolResult, Cache: true, Result: &chat.ToolResult{CallID: "c", Parts: []chat.Part{{Kind: chat.KindText, Text: "r", Cache: true}}}})},
		}, "", relay.OpGenerate, false, func(t *testing.T, r gjson.Result) {
			if n := strings.Count(r.Raw, `"cache_control"`); n != 4 || r.Get("system.0.cache_control").Exists() || r.Get("system.1.cache_control").Exists() || !r.Get("messages.0.content.2.cache_control").Exists() {
				t.Errorf("%d breakpoints: %s", n, r.Raw)
			}
		}},
		{"count tokens", chat.Request{Messages: hi, MaxTokens: 10, Temperature: ptr(0.1), Stop: []string{"x"}, User: "u", Seed: ptr[int64](1), Stream: true,
			System: []chat.Part{text("s")}, Tools: []chat.Tool{{Name: "a"}}, Reasoning: &chat.Reasoning{Budget: 2000}}, `{"thinking":"budget"}`, relay.OpCountTokens, true, func(t *testing.T, r gjson.Result) {
			keys := []string{}
			r.ForEach(func(k, _ gjson.Result) bool { keys = append(keys, k.Str); return true })
			if strings.Join(keys, ",") != "model,system,messages,tools,thinking" || r.Get("thinking.budget_tokens").Int() != 2000 {
				t.Errorf("count body %s", r.Raw)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, gjson.ParseBytes(encode(t, &tt.c, tt.cfg, tt.op, tt.stream)))
		})
	}
}

func TestEncodeRequestRefused(t *testing.T) {
	hi := []chat.Message{user(text("hi"))}
	tests := []struct {
		name  string
		c     chat.Request
		cfg   string
		field string
	}{
		{"seed", chat.Request{Messages: hi, Seed: ptr[int64](42)}, "", "seed"},
		{"presence penalty", chat.Request{Messages: hi, PresencePenalty: ptr(0.5)}, "", "presence_penalty"},
		{"frequency penalty", chat.Request{Messages: hi, FrequencyPenalty: ptr(-1.0)}, "", "frequency_penalty"},
		{"temperature on 2026-10-21", chat.Request{Messages: hi, Temperature: ptr(0.7)}, `{"version":"2026-10-21"}`, "temperature"},
		{"top_k on 2026-10-21", chat.Request{Messages: hi, TopK: ptr[int64](3)}, `{"version":"2026-10-21"}`, "top_k"},
		{"audio", chat.Request{Messages: []chat.Message{user(chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "audio/wav", Data: "UklG"}})}}, "", "messages"},
		{"gemini file uri", chat.Request{Messages: []chat.Message{user(chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "image/png", URL: "gs://bucket/a.png"}})}}, "", "messages"},
		{"document in assistant on 2026-10-21", chat.Request{Messages: []chat.Message{user(text("q")), assistant(chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "application/pdf", Data: "JVBE"}})}}, `{"version":"2026-10-21"}`, "messages"},
		{"arguments not an object", chat.Request{Messages: []chat.Message{user(text("q")), assistant(toolCall("c", "f", `{"a":`))}}, "", "messages"},
		{"schema not an object", chat.Request{Messages: hi, Tools: []chat.Tool{{Name: "a", Parameters: []byte(`[1]`)}}}, "", "tools.0"},
		{"media in system", chat.Request{Messages: hi, System: []chat.Part{{Kind: chat.KindMedia, Media: &chat.Media{URL: "https://x"}}}}, "", "system"},
		{"nan temperature", chat.Request{Messages: hi, Temperature: ptr(nan())}, "", "temperature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := &relay.Call{Mode: aiproxy.ModeChat, Channel: channel(tt.cfg), UpstreamModel: "m"}
			_, err := Codec{}.EncodeRequest(&tt.c, call)
			if aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorField(err) != tt.field {
				t.Fatalf("err = %v (field %q), want EINVALID on %s", err, aiproxy.ErrorField(err), tt.field)
			}
		})
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}
