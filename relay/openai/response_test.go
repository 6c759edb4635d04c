package openai

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

func TestDecodeResponse(t *testing.T) {
	msg := func(m, finish string) string {
		return `{"id":"chatcmpl-1","object":"chat.completion","created":7,"model":"m","choices":[{"index":0,"message":` + m + `,"logprobs":null,"finish_reason":"` + finish + `"}]}`
	}
	text := func(s string) chat.Part { return chat.Part{Kind: chat.KindText, Text: s} }
	tests := []struct {
		name string
		body string
		want *chat.Response
	}{
		{"text", msg(`{"role":"assistant","content":"hi","refusal":null}`, "stop"),
			&chat.Response{ID: "chatcmpl-1", Model: "m", Created: 7, Parts: []chat.Part{text("hi")}, Finish: chat.FinishStop}},
		{"length", msg(`{"role":"assistant","content":"hi"}`, "length"),
			&chat.Response{ID: "chatcmpl-1", Model: "m", Created: 7, Parts: []chat.Part{text("hi")}, Finish: chat.FinishLength}},
		{"content filter", msg(`{"role":"assistant","content":null}`, "content_filter"),
			&chat.Response{ID: "chatcmpl-1", Model: "m", Created: 7, Finish: chat.FinishContentFilter}},
		{"refusal", msg(`{"role":"assistant","content":null,"refusal":"no"}`, "stop"),
			&chat.Response{ID: "chatcmpl-1", Model: "m", Created: 7, Parts: []chat.Part{text("no")}, Finish: chat.FinishRefusal}},
		{"DeepSeek out of resources", msg(`{"role":"assistant","content":"par"}`, "insufficient_system_resource"),
			&chat.Response{ID: "chatcmpl-1", Model: "m", Created: 7, Parts: []chat.Part{text("par")}, Finish: chat.FinishError}},
		{"thinking blocks, reasoning, calls with joined ids", msg(`{"role":"assistant","content":"","reasoning":"ignored","thinking_blocks":[{"type":"thinking","thinking":"t","signature":"S"},{"type":"redacted_thinking","data":"R"}],
			"tool_calls":[{"id":"c1__sig_c2ln","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"type":"function","function":{"name":"g","arguments":""}}]}`, "tool_calls"),
			nil},
		{"legacy function call", msg(`{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}}`, "function_call"), nil},
		{"Mistral's thinking content", msg(`{"role":"assistant","content":[{"type":"thinking","thinking":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"type":"text","text":"c"}]}`, "stop"),
			&chat.Response{ID: "chatcmpl-1", Model: "m", Created: 7, Parts: []chat.Part{{Kind: chat.KindThinking, Text: "ab"}, text("c")}, Finish: chat.FinishStop}},
		{"usage", `{"id":"x","choices":[{"message":{"content":"a"},"finish_reason":"eos"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}`,
			&chat.Response{ID: "x", Parts: []chat.Part{text("a")}, Finish: chat.FinishStop, Usage: &aiproxy.Usage{PromptTokens: 10, CompletionTokens: 5, CachedTokens: 4, ReasoningTokens: 2, TotalTokens: 15}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Codec{}.DecodeResponse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !reflect.DeepEqual(r, tt.want) {
				t.Fatalf("got\n%swant\n%s", show(r), show(tt.want))
			}
			if tt.want == nil && len(r.Parts) == 0 {
				t.Fatalf("no parts: %s", show(r))
			}
		})
	}
	t.Run("calls", func(t *testing.T) {
		r, _ := Codec{}.DecodeResponse([]byte(tests[5].body))
		p := r.Parts
		if len(p) != 4 || p[0].Signature != "S" || p[1].Kind != chat.KindRedactedThinking || p[2].Call.ID != "c1" || p[2].Call.Signature != "sig" ||
			!strings.HasPrefix(p[3].Call.ID, "call_") || p[3].Call.Arguments != "{}" || r.Finish != chat.FinishToolCalls {
			t.Fatalf("%s", show(r))
		}
		r, _ = Codec{}.DecodeResponse([]byte(tests[6].body))
		if r.Parts[0].Call.Name != "f" || r.Finish != chat.FinishToolCalls {
			t.Fatalf("%s", show(r))
		}
	})
	for _, body := range []string{`{`, `[]`, `{"choices":[]}`, `{"error":{"message":"bad"}}`} {
		if _, err := (Codec{}).DecodeResponse([]byte(body)); err == nil {
			t.Errorf("DecodeResponse(%s) succeeded", body)
		}
	}
}

func TestEncodeResponse(t *testing.T) {
	r := &chat.Response{Model: "client-model", Parts: []chat.Part{
		{Kind: chat.KindThinking, Text: "plan", Signature: "SIG"},
		{Kind: chat.KindRedactedThinking, Signature: "RED"},
		{Kind: chat.KindText, Text: "Calling "},
		{Kind: chat.KindText, Text: "now"},
		{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "call_1", Name: "f", Arguments: `{"x":"y"}`, Signature: "gsig"}},
		{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "call_2", Name: "g"}},
	}, Finish: chat.FinishStop, Usage: &aiproxy.Usage{PromptTokens: 9, CompletionTokens: 4, CachedTokens: 3, ReasoningTokens: 1}}
	before := time.Now().Unix()
	b, err := Codec{}.EncodeResponse(r, &relay.Request{})
	if err != nil {
		t.Fatal(err)
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(b, &cc); err != nil {
		t.Fatalf("the SDK cannot read %s: %v", b, err)
	}
	m := cc.Choices[0].Message
	if !strings.HasPrefix(cc.ID, "chatcmpl-") || len(cc.ID) != 38 || cc.Created < before || cc.Model != "client-model" || cc.Object != "chat.completion" {
		t.Errorf("header %+v", cc)
	}
	if m.Content != "Calling now" || len(m.ToolCalls) != 2 || m.ToolCalls[0].ID != chat.JoinCallID("call_1", "gsig") || m.ToolCalls[0].Function.Arguments != `{"x":"y"}` || m.ToolCalls[1].Function.Arguments != "{}" {
		t.Errorf("message %s", m.RawJSON())
	}
	if cc.Choices[0].FinishReason != "tool_calls" || cc.Usage.TotalTokens != 13 || cc.Usage.PromptTokensDetails.CachedTokens != 3 || cc.Usage.CompletionTokensDetails.ReasoningTokens != 1 {
		t.Errorf("finish %q usage %+v", cc.Choices[0].FinishReason, cc.Usage)
	}
	checkJSON(t, b, map[string]string{
		"choices.0.message.reasoning_content": `"plan"`,
		"choices.0.message.thinking_blocks":   `[{"type":"thinking","thinking":"plan","signature":"SIG"},{"type":"redacted_thinking","data":"RED"}]`,
		"choices.0.message.refusal":           `null`,
		"choices.0.logprobs":                  `null`,
	}, nil)
	back, err := Codec{}.DecodeResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Parts) != 5 || back.Parts[3].Call.Signature != "gsig" || back.Parts[0].Signature != "SIG" {
		t.Errorf("decoded back %s", show(back))
	}

	t.Run("only calls: content null", func(t *testing.T) {
		b, _ := Codec{}.EncodeResponse(&chat.Response{ID: "x", Created: 1, Parts: []chat.Part{{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "a", Name: "f", Arguments: "{}"}}}, Finish: chat.FinishToolCalls}, &relay.Request{})
		checkJSON(t, b, map[string]string{"id": `"x"`, "created": `1`, "choices.0.message.content": `null`, "choices.0.finish_reason": `"tool_calls"`}, []string{"usage", "choices.0.message.reasoning_content", "choices.0.message.thinking_blocks"})
	})
	t.Run("empty answer: content empty", func(t *testing.T) {
		b, _ := Codec{}.EncodeResponse(&chat.Response{Finish: chat.FinishRefusal}, &relay.Request{})
		checkJSON(t, b, map[string]string{"choices.0.message.content": `""`, "choices.0.finish_reason": `"content_filter"`}, []string{"choices.0.message.tool_calls"})
	})
	t.Run("media", func(t *testing.T) {
		_, err := Codec{}.EncodeResponse(&chat.Response{Parts: []chat.Part{{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "image/png", Data: png1x1}}}}, &relay.Request{})
		if aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestResponseGolden decodes the answers of testdata/convert
// (response_*.json) and encodes them back, and encodes the neutral
// answers there (chat_response_*.json). -update rewrites the golden
// files.
func TestResponseGolden(t *testing.T) {
	eachFixture(t, "response_*.json", func(t *testing.T, body []byte, base string) {
		r, err := Codec{}.DecodeResponse(body)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, base+".chat.golden", []byte(show(r)))
		out, err := Codec{}.EncodeResponse(r, &relay.Request{})
		if err != nil {
			t.Fatal(err)
		}
		golden(t, base+".openai.golden", indent(t, out))
	})
	eachFixture(t, "chat_response_*.json", func(t *testing.T, _ []byte, base string) {
		var r chat.Response
		readChatJSON(t, base+".json", &r)
		out, err := Codec{}.EncodeResponse(&r, &relay.Request{})
		if err != nil {
			t.Fatal(err)
		}
		golden(t, base+".openai.golden", indent(t, out))
		var cc openai.ChatCompletion
		if err := json.Unmarshal(out, &cc); err != nil || len(cc.Choices) != 1 {
			t.Fatalf("the SDK cannot read it: %v", err)
		}
	})
}
