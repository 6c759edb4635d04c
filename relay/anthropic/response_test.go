package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	anthropic "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// TestResponseGolden decodes a message with thinking, text and two tool
// calls and encodes it again.
func TestResponseGolden(t *testing.T) {
	body := readFixture(t, "response_tools.json")
	r, err := Codec{}.DecodeResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	view, _ := json.MarshalIndent(struct {
		*chat.Response
		Parts []partView
	}{r, viewParts(r.Parts)}, "", "  ")
	golden(t, "response_tools.chat.golden", view)

	if r.ID != "msg_01Aq9w938a90dw8q" || r.Model != "claude-sonnet-4-6" || r.Finish != chat.FinishToolCalls || len(r.Parts) != 4 {
		t.Fatalf("%+v", r)
	}
	if p := r.Parts[0]; p.Kind != chat.KindThinking || p.Signature == "" || !strings.HasPrefix(p.Text, "The user asks") {
		t.Errorf("thinking %+v", p)
	}
	if c := r.Parts[3].Call; c.ID != "toolu_01B2y2gK45rBnl3uOUsO8Vq7" || gjson.Get(c.Arguments, "unit").Str != "celsius" {
		t.Errorf("second call %+v", c)
	}
	want := aiproxy.Usage{PromptTokens: 1596, CompletionTokens: 189, CachedTokens: 1024, CacheCreationTokens: 100, ReasoningTokens: 61, TotalTokens: 1785}
	if *r.Usage != want {
		t.Errorf("usage %+v", r.Usage)
	}

	r.Model = "alias"
	out, err := Codec{}.EncodeResponse(r, &relay.Request{})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "response_tools.encoded.golden", indent(t, out))
	// The official SDK reads it as the original.
	var got, orig anthropic.Message
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &orig); err != nil {
		t.Fatal(err)
	}
	if got.ID != orig.ID || got.Model != "alias" || got.StopReason != orig.StopReason || len(got.Content) != len(orig.Content) {
		t.Fatalf("SDK reads %+v", got)
	}
	for i := range orig.Content {
		a, b := orig.Content[i], got.Content[i]
		if a.Type != b.Type || a.Text != b.Text || a.Thinking != b.Thinking || a.Signature != b.Signature || a.ID != b.ID || a.Name != b.Name || compact(string(a.Input)) != compact(string(b.Input)) {
			t.Errorf("block %d: %+v, want %+v", i, b, a)
		}
	}
	u, o := got.Usage, orig.Usage
	if u.InputTokens != o.InputTokens || u.OutputTokens != o.OutputTokens || u.CacheReadInputTokens != o.CacheReadInputTokens || u.CacheCreationInputTokens != o.CacheCreationInputTokens {
		t.Errorf("usage %+v, want %+v", u, o)
	}
}

func TestEncodeResponse(t *testing.T) {
	r := &chat.Response{Model: "m", Finish: chat.FinishStop, Parts: []chat.Part{
		text(""), text("hello"),
		{Kind: chat.KindThinking, Text: "why"},
		{Kind: chat.KindRedactedThinking, Signature: "enc"},
		{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "call_1", Name: "f", Arguments: `{"a":`, Signature: "gemini-sig"}},
	}}
	out, err := Codec{}.EncodeResponse(r, &relay.Request{})
	if err != nil {
		t.Fatal(err)
	}
	m := gjson.ParseBytes(out)
	if !strings.HasPrefix(m.Get("id").Str, "msg_") || m.Get("type").Str != "message" || m.Get("role").Str != "assistant" {
		t.Errorf("%s", out)
	}
	if m.Get("content.#").Int() != 4 || m.Get("content.1.signature").Str != "" || m.Get("content.2.data").Str != "enc" {
		t.Errorf("content %s", m.Get("content").Raw)
	}
	if id, sig := chat.SplitCallID(m.Get("content.3.id").Str); id != "call_1" || sig != "gemini-sig" || m.Get("content.3.input").Raw != "{}" {
		t.Errorf("tool use %s", m.Get("content.3").Raw)
	}
	if m.Get("stop_reason").Str != "tool_use" || m.Get("stop_sequence").Type != gjson.Null {
		t.Errorf("a stop with tool calls is tool_use: %s", out)
	}
	if m.Get("usage").Raw != `{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}` {
		t.Errorf("usage %s", m.Get("usage").Raw)
	}
	if _, err := (Codec{}).EncodeResponse(&chat.Response{Parts: []chat.Part{{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "image/png"}}}}, nil); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
		t.Errorf("media: %v", err)
	}
}

func TestStopReasons(t *testing.T) {
	for _, tt := range []struct {
		reason string
		finish chat.Finish
	}{
		{"end_turn", chat.FinishStop}, {"stop_sequence", chat.FinishStop}, {"max_tokens", chat.FinishLength},
		{"model_context_window_exceeded", chat.FinishLength}, {"tool_use", chat.FinishToolCalls},
		{"refusal", chat.FinishRefusal}, {"pause_turn", chat.FinishPause}, {"", ""},
	} {
		if got := finishOf(tt.reason); got != tt.finish {
			t.Errorf("finishOf(%q) = %q, want %q", tt.reason, got, tt.finish)
		}
	}
	for _, tt := range []struct {
		finish  chat.Finish
		seq     string
		tools   bool
		want    string
		comment string
	}{
		{chat.FinishStop, "", false, "end_turn", ""},
		{chat.FinishStop, "END", false, "stop_sequence", ""},
		{chat.FinishLength, "", false, "max_tokens", ""},
		{chat.FinishToolCalls, "", false, "tool_use", ""},
		{chat.FinishStop, "", true, "tool_use", "a stop after tool calls"},
		{chat.FinishContentFilter, "", false, "refusal", ""},
		{chat.FinishRefusal, "", false, "refusal", ""},
		{chat.FinishPause, "", false, "pause_turn", ""},
		{chat.FinishError, "", true, "end_turn", "Anthropic has no reason for an error"},
		{"", "", false, "end_turn", ""},
	} {
		if got := stopReason(tt.finish, tt.seq, tt.tools); got != tt.want {
			t.Errorf("stopReason(%q, %q, %v) = %q, want %q %s", tt.finish, tt.seq, tt.tools, got, tt.want, tt.comment)
		}
	}
}

func TestDecodeResponseRefused(t *testing.T) {
	for _, body := range []string{
		`{`,
		`[]`,
		`{"type":"message","content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}]}`,
	} {
		if _, err := (Codec{}).DecodeResponse([]byte(body)); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("%s: %v, want EINVALID", body, err)
		}
	}
}
