package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
	"github.com/aiproxy/aiproxy/relay/chat"
)

func ptr[T any](v T) *T { return &v }

// decodeBody decodes an OpenAI chat request body.
func decodeBody(body string) (*chat.Request, error) {
	return Codec{}.DecodeRequest(&relay.Request{Mode: aiproxy.ModeChat, Protocol: aiproxy.ProtocolOpenAI, Body: []byte(body)})
}

// compatible and official are calls to an OpenAI-compatible server and
// to OpenAI itself.
var (
	compatible = &relay.Call{Mode: aiproxy.ModeChat, BaseURL: "http://vllm.internal:8000/v1", Model: "m", UpstreamModel: "up-model", Channel: &aiproxy.Channel{}}
	official   = &relay.Call{Mode: aiproxy.ModeChat, BaseURL: "https://api.openai.com/v1", Model: "m", UpstreamModel: "gpt-5-mini", Channel: &aiproxy.Channel{}}
)

// dump returns v as plain JSON values for messages and golden files:
// zero fields left out, kinds by name.
func dump(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if v.CanInterface() {
		switch x := v.Interface().(type) {
		case chat.Kind:
			return x.String()
		case json.RawMessage:
			if x == nil {
				return nil
			}
			return x
		}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return dump(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); v.Type().Field(i).IsExported() && !f.IsZero() {
				m[v.Type().Field(i).Name] = dump(f)
			}
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = dump(v.Index(i))
		}
		return out
	}
	return v.Interface()
}

// show renders v (a chat value) for golden files and failure messages.
func show(v any) string {
	b, err := json.MarshalIndent(dump(reflect.ValueOf(v)), "", "  ")
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

// indent pretty-prints JSON for golden files.
func indent(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		tb.Fatalf("not JSON: %v: %s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// golden compares got with the file at path, which -update rewrites.
func golden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		tb.Errorf("%s differs (run with -update to accept):\n%s", path, got)
	}
}

// readChatJSON reads a fixture holding a chat value in JSON, with kinds
// by name ("Kind": "tool_call").
func readChatJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			if k, ok := x["Kind"].(string); ok {
				x["Kind"] = kindByName(tb, k)
			}
			if k, ok := x["Block"].(string); ok {
				x["Block"] = kindByName(tb, k)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(raw)
	b, _ = json.Marshal(raw)
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

func kindByName(tb testing.TB, name string) chat.Kind {
	for k := chat.KindText; k <= chat.KindToolResult; k++ {
		if k.String() == name {
			return k
		}
	}
	tb.Fatalf("unknown kind %q", name)
	return 0
}

// wantField checks that err is EINVALID naming field.
func wantField(tb testing.TB, err error, field string) {
	tb.Helper()
	var e *aiproxy.Error
	if !errors.As(err, &e) {
		tb.Fatalf("error = %v, want EINVALID naming %q", err, field)
	}
	if e.Code != aiproxy.EINVALID || e.Field != field {
		tb.Fatalf("error = %s %q (%s), want EINVALID naming %q", e.Code, e.Field, e.Message, field)
	}
	if e.Message == "" || strings.HasSuffix(e.Message, " ") {
		tb.Fatalf("error message %q", e.Message)
	}
}

const png1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func TestDecodeRequest(t *testing.T) {
	text := func(s string) chat.Part { return chat.Part{Kind: chat.KindText, Text: s} }
	user := func(parts ...chat.Part) chat.Message { return chat.Message{Role: chat.RoleUser, Parts: parts} }
	tests := []struct {
		name string
		body string
		want *chat.Request
	}{
		{"string content", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			&chat.Request{Model: "m", Messages: []chat.Message{user(text("hi"))}}},
		{"leading system and developer are the system prompt, later ones messages",
			`{"model":"m","messages":[{"role":"system","content":"a"},{"role":"developer","content":[{"type":"text","text":"b"},{"type":"text","text":""}]},{"role":"user","content":"q"},{"role":"system","content":"c"},{"role":"developer","content":"d"}]}`,
			&chat.Request{Model: "m", System: []chat.Part{text("a"), text("b")}, Messages: []chat.Message{user(text("q")), {Role: chat.RoleSystem, Parts: []chat.Part{text("c")}}, {Role: chat.RoleSystem, Parts: []chat.Part{text("d")}}}}},
		{"user parts: text, images by URL and data, audio, files",
			`{"model":"m","messages":[{"role":"user","content":[
				{"type":"text","text":"look"},
				{"type":"image_url","image_url":{"url":"https://x.test/a.jpg","detail":"low"}},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png1x1 + `"}},
				{"type":"image_url","image_url":{"url":"data:;base64,` + png1x1 + `"}},
				{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},
				{"type":"input_audio","input_audio":{"data":"SUQz","format":"mp3"}},
				{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0xLjQ=","filename":"a.pdf"}},
				{"type":"file","file":{"file_data":"JVBERi0xLjQ=","filename":"b.bin"}},
				{"type":"file","file":{"file_data":"aGVsbG8=","filename":"notes.md"}},
				{"type":"file","file":{"file_data":"data:text/plain,hello%20world"}}]}]}`,
			&chat.Request{Model: "m", Messages: []chat.Message{user(
				text("look"),
				chat.Part{Kind: chat.KindMedia, Media: &chat.Media{URL: "https://x.test/a.jpg", Detail: "low"}},
				chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "image/png", Data: png1x1}},
				chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "image/png", Data: png1x1}},
				chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "audio/wav", Data: "UklGRg=="}},
				chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "audio/mpeg", Data: "SUQz"}},
				chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "application/pdf", Data: "JVBERi0xLjQ=", Name: "a.pdf"}},
				chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "application/pdf", Data: "JVBERi0xLjQ=", Name: "b.bin"}},
				chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "text/markdown", Data: "aGVsbG8=", Name: "notes.md"}},
				chat.Part{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "text/plain", Data: "aGVsbG8gd29ybGQ="}},
			)}}},
		{"cache breakpoints and cache_control mark parts",
			`{"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"s","prompt_cache_breakpoint":{"mode":"explicit"}}]},{"role":"user","content":[{"type":"text","text":"u","cache_control":{"type":"ephemeral"}},{"type":"text","text":"v"}]}]}`,
			&chat.Request{Model: "m", System: []chat.Part{{Kind: chat.KindText, Text: "s", Cache: true}}, Messages: []chat.Message{user(chat.Part{Kind: chat.KindText, Text: "u", Cache: true}, text("v"))}}},
		{"assistant: reasoning_content, content, refusal, tool calls with joined ids; tool results merged and named",
			`{"model":"m","messages":[{"role":"user","content":"q"},
				{"role":"assistant","content":"let me see","reasoning_content":"think","refusal":"no more","tool_calls":[
					{"id":"call_a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},
					{"id":"call_b__sig_c2lnLWI","type":"function","function":{"name":"g","arguments":""}}]},
				{"role":"tool","tool_call_id":"call_a","content":"one"},
				{"role":"tool","tool_call_id":"call_b__sig_c2lnLWI","content":[{"type":"text","text":"two"},{"type":"text","text":"three"}]},
				{"role":"user","content":"thanks"}]}`,
			&chat.Request{Model: "m", Messages: []chat.Message{
				user(text("q")),
				{Role: chat.RoleAssistant, Parts: []chat.Part{
					{Kind: chat.KindThinking, Text: "think"}, text("let me see"), text("no more"),
					{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "call_a", Name: "f", Arguments: `{"x":1}`}},
					{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "call_b", Name: "g", Arguments: `{}`, Signature: "sig-b"}}}},
				user(
					chat.Part{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: "call_a", Name: "f", Parts: []chat.Part{text("one")}}},
					chat.Part{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: "call_b", Name: "g", Parts: []chat.Part{text("two"), text("three")}}}),
				user(text("thanks"))}}},
		{"OpenRouter's reasoning; content parts with refusal",
			`{"model":"m","messages":[{"role":"assistant","reasoning":"hmm","content":[{"type":"text","text":"a"},{"type":"refusal","refusal":"b"}]}]}`,
			&chat.Request{Model: "m", Messages: []chat.Message{{Role: chat.RoleAssistant, Parts: []chat.Part{{Kind: chat.KindThinking, Text: "hmm"}, text("a"), text("b")}}}}},
		{"thinking_blocks win over reasoning_content",
			`{"model":"m","messages":[{"role":"assistant","content":"x","reasoning_content":"plain","thinking_blocks":[{"type":"thinking","thinking":"signed","signature":"S1"},{"type":"redacted_thinking","data":"R1"}]}]}`,
			&chat.Request{Model: "m", Messages: []chat.Message{{Role: chat.RoleAssistant, Parts: []chat.Part{{Kind: chat.KindThinking, Text: "signed", Signature: "S1"}, {Kind: chat.KindRedactedThinking, Signature: "R1"}, text("x")}}}}},
		{"a lone signed block without text gets the reasoning text (a client rebuilt it from stream deltas)",
			`{"model":"m","messages":[{"role":"assistant","content":"x","reasoning_content":"plain","thinking_blocks":[{"type":"thinking","thinking":"","signature":"S1"},{"type":"redacted_thinking","data":"R1"}]}]}`,
			&chat.Request{Model: "m", Messages: []chat.Message{{Role: chat.RoleAssistant, Parts: []chat.Part{{Kind: chat.KindThinking, Text: "plain", Signature: "S1"}, {Kind: chat.KindRedactedThinking, Signature: "R1"}, text("x")}}}}},
		{"a tool message whose call is not in the history has no name",
			`{"model":"m","messages":[{"role":"tool","tool_call_id":"nowhere","content":"r"}]}`,
			&chat.Request{Model: "m", Messages: []chat.Message{user(chat.Part{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: "nowhere", Parts: []chat.Part{text("r")}}})}}},
		{"parameters",
			`{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"a":{"type":"string","enum":["x","y"]}},"required":["a"]},"strict":true}},{"type":"function","function":{"name":"g"}}],
			"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false,"max_tokens":10,"max_completion_tokens":20,
			"temperature":0.5,"top_p":1,"top_k":40,"seed":-3,"presence_penalty":0.1,"frequency_penalty":-0.2,"stop":"END","response_format":{"type":"json_object"},
			"reasoning_effort":"xhigh","stream":true,"user":"u","safety_identifier":"safe","n":1,"logprobs":false,"top_logprobs":0,"logit_bias":{},"modalities":["text"],
			"metadata":{"a":"b"},"store":true,"service_tier":"flex","stream_options":{"include_usage":true},"prompt_cache_key":"k","prompt_cache_retention":"24h","verbosity":"low","audio":null,"x_vendor":1}`,
			&chat.Request{Model: "m", Tools: []chat.Tool{{Name: "f", Description: "d", Parameters: json.RawMessage(`{"type":"object","properties":{"a":{"type":"string","enum":["x","y"]}},"required":["a"]}`), Strict: true}, {Name: "g"}},
				ToolChoice: &chat.ToolChoice{Mode: chat.ToolNamed, Name: "f"}, ParallelToolCalls: ptr(false), MaxTokens: 20,
				Temperature: ptr(0.5), TopP: ptr(1.0), TopK: ptr(int64(40)), Seed: ptr(int64(-3)), PresencePenalty: ptr(0.1), FrequencyPenalty: ptr(-0.2),
				Stop: []string{"END"}, Format: &chat.Format{Type: chat.FormatJSON}, Reasoning: &chat.Reasoning{Effort: "xhigh"}, Stream: true, User: "safe"}},
		{"json_schema, reasoning off, stop array, max_tokens, user",
			`{"model":"m","messages":[],"response_format":{"type":"json_schema","json_schema":{"name":"r","description":"ignored","schema":{"type":"object"},"strict":true}},"reasoning_effort":"none","stop":["a","b"],"max_tokens":5,"user":"u1"}`,
			&chat.Request{Model: "m", Format: &chat.Format{Type: chat.FormatJSONSchema, Name: "r", Schema: json.RawMessage(`{"type":"object"}`), Strict: true}, Reasoning: &chat.Reasoning{Off: true}, Stop: []string{"a", "b"}, MaxTokens: 5, User: "u1"}},
		{"allowed_tools keeps the tools allowed",
			`{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}},{"type":"function","function":{"name":"c"}}],
			"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"c"}},{"type":"function","function":{"name":"a"}}]}}}`,
			&chat.Request{Model: "m", Tools: []chat.Tool{{Name: "a"}, {Name: "c"}}, ToolChoice: &chat.ToolChoice{Mode: chat.ToolRequired}}},
		{"tool_choice strings and text format", `{"model":"m","messages":[],"tool_choice":"required","response_format":{"type":"text"}}`,
			&chat.Request{Model: "m", ToolChoice: &chat.ToolChoice{Mode: chat.ToolRequired}}},
		{"nulls are unset", `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":null}],"temperature":null,"stop":null,"tools":null,"n":null}`,
			&chat.Request{Model: "m", Messages: []chat.Message{{Role: chat.RoleAssistant}}}},
		{"escaped text", `{"model":"m","messages":[{"role":"user","content":"a\"b\\c\n\u00e9\ud83d\ude00"}]}`,
			&chat.Request{Model: "m", Messages: []chat.Message{user(text("a\"b\\c\né😀"))}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeBody(tt.body)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%swant\n%s", show(got), show(tt.want))
			}
		})
	}
}

func TestDecodeRequestRefuses(t *testing.T) {
	tests := []struct {
		name, body, field string
	}{
		{"n > 1", `{"model":"m","messages":[],"n":2}`, "n"},
		{"logprobs", `{"model":"m","messages":[],"logprobs":true}`, "logprobs"},
		{"top_logprobs", `{"model":"m","messages":[],"top_logprobs":3}`, "top_logprobs"},
		{"audio modality", `{"model":"m","messages":[],"modalities":["text","audio"]}`, "modalities"},
		{"audio", `{"model":"m","messages":[],"audio":{"voice":"alloy","format":"mp3"}}`, "audio"},
		{"prediction", `{"model":"m","messages":[],"prediction":{"type":"content","content":"x"}}`, "prediction"},
		{"web search", `{"model":"m","messages":[],"web_search_options":{}}`, "web_search_options"},
		{"logit_bias", `{"model":"m","messages":[],"logit_bias":{"50256":-100}}`, "logit_bias"},
		{"moderation", `{"model":"m","messages":[],"moderation":{"model":"omni-moderation-latest"}}`, "moderation"},
		{"functions", `{"model":"m","messages":[],"functions":[{"name":"f"}]}`, "functions"},
		{"function_call", `{"model":"m","messages":[],"function_call":"auto"}`, "function_call"},
		{"function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
		{"assistant function_call", `{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","function_call":{"name":"f","arguments":"{}"}}]}`, "messages[1].function_call"},
		{"assistant audio", `{"model":"m","messages":[{"role":"assistant","audio":{"id":"audio_1"}}]}`, "messages[0].audio"},
		{"file id", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, "messages[0].content[0].file.file_id"},
		{"custom tool", `{"model":"m","messages":[],"tools":[{"type":"custom","custom":{"name":"c"}}]}`, "tools[0].type"},
		{"custom tool call", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{"name":"c","input":"x"}}]}]}`, "messages[0].tool_calls[0].type"},
		{"arguments not JSON", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
		{"call without id", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].id"},
		{"tool message without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id"},
		{"image in a system message", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}]}`, "messages[0].content[0].type"},
		{"unknown part", `{"model":"m","messages":[{"role":"user","content":[{"type":"video","video":{}}]}]}`, "messages[0].content[0].type"},
		{"unknown role", `{"model":"m","messages":[{"role":"critic","content":"x"}]}`, "messages[0].role"},
		{"bad data url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"audio without format", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA"}}]}]}`, "messages[0].content[0].input_audio.format"},
		{"content a number", `{"model":"m","messages":[{"role":"user","content":3}]}`, "messages[0].content"},
		{"temperature a string", `{"model":"m","messages":[],"temperature":"hot"}`, "temperature"},
		{"seed a fraction", `{"model":"m","messages":[],"seed":1.5}`, "seed"},
		{"negative max tokens", `{"model":"m","messages":[],"max_completion_tokens":-1}`, "max_completion_tokens"},
		{"bad effort", `{"model":"m","messages":[],"reasoning_effort":"extreme"}`, "reasoning_effort"},
		{"bad tool_choice", `{"model":"m","messages":[],"tool_choice":"sometimes"}`, "tool_choice"},
		{"allowed tool not in tools", `{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"z"}}]}}}`, "tool_choice.allowed_tools.tools"},
		{"grammar format", `{"model":"m","messages":[],"response_format":{"type":"grammar","grammar":{}}}`, "response_format.type"},
		{"messages an object", `{"model":"m","messages":{}}`, "messages"},
		{"stop a number", `{"model":"m","messages":[],"stop":1}`, "stop"},
		{"unknown thinking block", `{"model":"m","messages":[{"role":"assistant","thinking_blocks":[{"type":"musing"}]}]}`, "messages[0].thinking_blocks[0].type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := decodeBody(tt.body)
			if c != nil {
				t.Fatalf("decoded %s", show(c))
			}
			wantField(t, err, tt.field)
		})
	}
	t.Run("not chat", func(t *testing.T) {
		_, err := Codec{}.DecodeRequest(&relay.Request{Mode: aiproxy.ModeEmbeddings, Body: []byte(`{"model":"m","input":"x"}`)})
		if aiproxy.ErrorCode(err) != aiproxy.EINVALID || !strings.Contains(aiproxy.ErrorMessage(err), "Only chat requests can be converted") {
			t.Fatalf("err = %v", err)
		}
	})
	for _, body := range []string{`{"model":`, `[]`, `"x"`, ``} {
		if _, err := decodeBody(body); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("DecodeRequest(%q) = %v, want EINVALID", body, err)
		}
	}
}

// The official SDK's requests decode as they mean.
func TestDecodeRequestFromSDK(t *testing.T) {
	params := openai.ChatCompletionNewParams{
		Model: "gpt-5",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("sys"),
			openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("what is this?"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + png1x1, Detail: "high"}),
				openai.InputAudioContentPart(openai.ChatCompletionContentPartInputAudioInputAudioParam{Data: "SUQz", Format: "mp3"}),
				openai.FileContentPart(openai.ChatCompletionContentPartFileFileParam{FileData: openai.String("data:application/pdf;base64,JVBERi0="), Filename: openai.String("doc.pdf")}),
			}),
			{OfAssistant: &openai.ChatCompletionAssistantMessageParam{
				ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
					ID: "call_1", Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "lookup", Arguments: `{"q":"x"}`}}}},
			}},
			openai.ToolMessage("found", "call_1"),
		},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "lookup", Description: openai.String("Look up."), Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}},
		})},
		ToolChoice:          openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("auto")},
		MaxCompletionTokens: openai.Int(100),
		Temperature:         openai.Float(0.3),
		Stop:                openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"x"}},
		ReasoningEffort:     shared.ReasoningEffortLow,
		SafetyIdentifier:    openai.String("end-user"),
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "out", Schema: map[string]any{"type": "object"}, Strict: openai.Bool(true)}}},
	}
	body, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeBody(string(body))
	if err != nil {
		t.Fatalf("DecodeRequest(%s): %v", body, err)
	}
	if len(c.System) != 1 || c.System[0].Text != "sys" || len(c.Messages) != 3 {
		t.Fatalf("decoded %s", show(c))
	}
	u := c.Messages[0].Parts
	if len(u) != 4 || u[1].Media.MediaType != "image/png" || u[1].Media.Detail != "high" || u[2].Media.MediaType != "audio/mpeg" || u[3].Media.Name != "doc.pdf" || u[3].Media.MediaType != "application/pdf" {
		t.Errorf("user parts %s", show(u))
	}
	if call := c.Messages[1].Parts[0].Call; call.ID != "call_1" || call.Name != "lookup" || call.Arguments != `{"q":"x"}` {
		t.Errorf("call %s", show(call))
	}
	if r := c.Messages[2].Parts[0].Result; r.CallID != "call_1" || r.Name != "lookup" || r.Parts[0].Text != "found" {
		t.Errorf("result %s", show(r))
	}
	if len(c.Tools) != 1 || gjson.GetBytes(c.Tools[0].Parameters, "properties.q.type").Str != "string" || c.ToolChoice.Mode != chat.ToolAuto {
		t.Errorf("tools %s %s", show(c.Tools), show(c.ToolChoice))
	}
	if c.MaxTokens != 100 || *c.Temperature != 0.3 || c.Stop[0] != "x" || c.Reasoning.Effort != "low" || c.User != "end-user" || c.Format.Name != "out" || !c.Format.Strict {
		t.Errorf("parameters %s", show(c))
	}
}

// encodeCase is a request to encode and what the body must hold: values
// by gjson path (as JSON) and paths that must be absent.
type encodeCase struct {
	name   string
	c      *chat.Request
	call   *relay.Call
	want   map[string]string
	absent []string
}

func TestEncodeRequest(t *testing.T) {
	text := func(s string) chat.Part { return chat.Part{Kind: chat.KindText, Text: s} }
	tests := []encodeCase{
		{name: "system prompt, text turns, parameters", call: compatible, c: &chat.Request{
			System:    []chat.Part{{Kind: chat.KindText, Text: "be brief", Cache: true}, text("be kind")},
			Messages:  []chat.Message{{Role: chat.RoleUser, Parts: []chat.Part{text("hi")}}, {Role: chat.RoleAssistant, Parts: []chat.Part{text("hello")}}, {Role: chat.RoleSystem, Parts: []chat.Part{text("now French")}}, {Role: chat.RoleUser, Parts: []chat.Part{text("a"), text("b")}}},
			MaxTokens: 300, Temperature: ptr(0.7), TopP: ptr(0.95), Seed: ptr(int64(1)), PresencePenalty: ptr(0.5), FrequencyPenalty: ptr(1e-7),
			Stop: []string{"x", "y"}, User: "u", Reasoning: &chat.Reasoning{Effort: "low"},
		}, want: map[string]string{
			"model": `"up-model"`, "stream": `false`,
			"messages":   `[{"role":"system","content":"be brief\n\nbe kind"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"system","content":"now French"},{"role":"user","content":"a\n\nb"}]`,
			"max_tokens": `300`, "temperature": `0.7`, "top_p": `0.95`, "seed": `1`, "presence_penalty": `0.5`, "frequency_penalty": `1e-7`,
			"stop": `["x","y"]`, "user": `"u"`, "reasoning_effort": `"low"`,
		}, absent: []string{"max_completion_tokens", "tools", "tool_choice", "parallel_tool_calls", "response_format", "stream_options"}},
		{name: "OpenAI itself gets max_completion_tokens and no reasoning_content", call: official, c: &chat.Request{
			Messages:  []chat.Message{{Role: chat.RoleAssistant, Parts: []chat.Part{{Kind: chat.KindThinking, Text: "hmm"}, text("x")}}},
			MaxTokens: 10, Reasoning: &chat.Reasoning{Budget: 3000},
		}, want: map[string]string{"model": `"gpt-5-mini"`, "max_completion_tokens": `10`, "reasoning_effort": `"medium"`, "messages.0": `{"role":"assistant","content":"x"}`},
			absent: []string{"max_tokens"}},
		{name: "media parts", call: compatible, c: &chat.Request{Messages: []chat.Message{{Role: chat.RoleUser, Parts: []chat.Part{
			text("see"),
			{Kind: chat.KindMedia, Media: &chat.Media{URL: "https://x.test/i.png", Detail: "high"}},
			{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "image/jpeg", Data: "/9j/AA=="}},
			{Kind: chat.KindMedia, Media: &chat.Media{Data: png1x1}},
			{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "audio/wav", Data: "UklGRg=="}},
			{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "audio/mpeg", Data: "SUQz"}},
			{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "application/pdf", Data: "JVBERi0="}},
			{Kind: chat.KindMedia, Media: &chat.Media{MediaType: "text/plain", Data: "aGk=", Name: "n.txt"}},
		}}}}, want: map[string]string{"messages.0.content": `[
			{"type":"text","text":"see"},
			{"type":"image_url","image_url":{"url":"https://x.test/i.png","detail":"high"}},
			{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/AA=="}},
			{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png1x1 + `"}},
			{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},
			{"type":"input_audio","input_audio":{"data":"SUQz","format":"mp3"}},
			{"type":"file","file":{"filename":"file.pdf","file_data":"data:application/pdf;base64,JVBERi0="}},
			{"type":"file","file":{"filename":"n.txt","file_data":"data:text/plain;base64,aGk="}}]`}},
		{name: "tool round trip: calls with plain ids, results before the rest of the turn", call: compatible, c: &chat.Request{
			Messages: []chat.Message{
				{Role: chat.RoleUser, Parts: []chat.Part{text("weather?")}},
				{Role: chat.RoleAssistant, Parts: []chat.Part{
					{Kind: chat.KindThinking, Text: "two calls", Signature: "anthropic-sig"},
					{Kind: chat.KindRedactedThinking, Signature: "opaque"},
					{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "c1", Name: "w", Arguments: `{"city":"Paris"}`, Signature: "gemini-sig"}},
					{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "c2", Name: "w"}}}},
				{Role: chat.RoleUser, Parts: []chat.Part{
					{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: "c1", Name: "w", Parts: []chat.Part{text("18C"), text("cloudy")}}},
					text("and also"),
					{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: "c2", Name: "w", IsError: true, Parts: []chat.Part{text("city unknown")}}}}},
			},
			Tools:      []chat.Tool{{Name: "w", Description: "weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`), Strict: true}, {Name: "noargs"}},
			ToolChoice: &chat.ToolChoice{Mode: chat.ToolNamed, Name: "w"}, ParallelToolCalls: ptr(false),
		}, want: map[string]string{
			"messages": `[{"role":"user","content":"weather?"},
				{"role":"assistant","content":null,"reasoning_content":"two calls","tool_calls":[
					{"id":"c1","type":"function","function":{"name":"w","arguments":"{\"city\":\"Paris\"}"}},
					{"id":"c2","type":"function","function":{"name":"w","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"c1","content":"18C\n\ncloudy"},
				{"role":"tool","tool_call_id":"c2","content":"city unknown"},
				{"role":"user","content":"and also"}]`,
			"tools":               `[{"type":"function","function":{"name":"w","description":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}},{"type":"function","function":{"name":"noargs","parameters":{"type":"object","properties":{}}}}]`,
			"tool_choice":         `{"type":"function","function":{"name":"w"}}`,
			"parallel_tool_calls": `false`,
		}},
		{name: "tool choice and parallel calls need tools", call: compatible, c: &chat.Request{ToolChoice: &chat.ToolChoice{Mode: chat.ToolNone}, ParallelToolCalls: ptr(true)},
			absent: []string{"tool_choice", "parallel_tool_calls", "tools"}},
		{name: "json schema, adaptive thinking, off", call: &relay.Call{UpstreamModel: "m", Stream: true}, c: &chat.Request{
			Format: &chat.Format{Type: chat.FormatJSONSchema, Schema: json.RawMessage(`{"type":"object"}`), Strict: true}, Reasoning: &chat.Reasoning{Adaptive: true},
		}, want: map[string]string{"stream": `true`, "response_format": `{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object"},"strict":true}}`, "reasoning_effort": `"medium"`, "max_completion_tokens": `null`}},
		{name: "reasoning off sends no effort", call: compatible, c: &chat.Request{Reasoning: &chat.Reasoning{Off: true, Effort: "high"}, Format: &chat.Format{Type: chat.FormatJSON}},
			want: map[string]string{"response_format": `{"type":"json_object"}`}, absent: []string{"reasoning_effort"}},
		{name: "an empty user turn stays a turn", call: compatible, c: &chat.Request{Messages: []chat.Message{{Role: chat.RoleUser}, {Role: chat.RoleAssistant}}},
			want: map[string]string{"messages": `[{"role":"user","content":""},{"role":"assistant","content":""}]`}},
		{name: "strings escaped", call: compatible, c: &chat.Request{Messages: []chat.Message{{Role: chat.RoleUser, Parts: []chat.Part{text("q\"\\\n\t\x01é\u2028\xff")}}}},
			want: map[string]string{"messages.0.content": `"q\"\\\n\t\u0001é\u2028\ufffd"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Codec{}.EncodeRequest(tt.c, tt.call)
			if err != nil {
				t.Fatalf("EncodeRequest: %v", err)
			}
			checkJSON(t, b, tt.want, tt.absent)
		})
	}
}

// checkJSON checks that b is JSON holding want (values by path) and none
// of absent.
func checkJSON(tb testing.TB, b []byte, want map[string]string, absent []string) {
	tb.Helper()
	if !json.Valid(b) {
		tb.Fatalf("not JSON: %s", b)
	}
	for path, w := range want {
		got := gjson.GetBytes(b, path)
		var gv, wv any
		if w == "null" && !got.Exists() {
			continue
		}
		if err := json.Unmarshal([]byte(w), &wv); err != nil {
			tb.Fatalf("bad expectation %s: %v", w, err)
		}
		if err := json.Unmarshal([]byte(got.Raw), &gv); err != nil || !reflect.DeepEqual(gv, wv) {
			tb.Errorf("%s = %s, want %s", path, got.Raw, w)
		}
	}
	for _, path := range absent {
		if got := gjson.GetBytes(b, path); got.Exists() {
			tb.Errorf("%s = %s, want none", path, got.Raw)
		}
	}
	if tb.Failed() {
		tb.Logf("body: %s", b)
	}
}

// top_k goes to compatible servers, which take it, and not to OpenAI's
// own API, which has no top-k and refuses unknown fields; media a tool
// returned follow the tool messages in a user message.
func TestEncodeRequestTopKAndToolMedia(t *testing.T) {
	c := &chat.Request{TopK: ptr(int64(5)), Messages: []chat.Message{{Role: chat.RoleUser, Parts: []chat.Part{
		{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: "c1", Parts: []chat.Part{{Kind: chat.KindText, Text: "shot taken"}, {Kind: chat.KindMedia, Media: &chat.Media{MediaType: "image/png", Data: png1x1}}}}},
		{Kind: chat.KindToolResult, Result: &chat.ToolResult{CallID: "c2", Parts: []chat.Part{{Kind: chat.KindText, Text: "done"}}}},
		{Kind: chat.KindText, Text: "and now?"},
	}}}}
	b, err := Codec{}.EncodeRequest(c, compatible)
	if err != nil {
		t.Fatal(err)
	}
	if k := gjson.GetBytes(b, "top_k"); k.Int() != 5 {
		t.Errorf("top_k = %s for a compatible server", k.Raw)
	}
	msgs := gjson.GetBytes(b, "messages").Array()
	if len(msgs) != 3 || msgs[0].Get("role").Str != "tool" || msgs[0].Get("content").Str != "shot taken" || msgs[1].Get("tool_call_id").Str != "c2" {
		t.Fatalf("messages %s", gjson.GetBytes(b, "messages").Raw)
	}
	user := msgs[2].Get("content").Array()
	if msgs[2].Get("role").Str != "user" || len(user) != 3 || !strings.Contains(user[0].Get("text").Str, "c1") || user[1].Get("type").Str != "image_url" || user[2].Get("text").Str != "and now?" {
		t.Errorf("user message %s", msgs[2].Raw)
	}
	if b, err = (Codec{}).EncodeRequest(&chat.Request{TopK: ptr(int64(5))}, official); err != nil || gjson.GetBytes(b, "top_k").Exists() {
		t.Errorf("api.openai.com: %s %v, want no top_k", b, err)
	}
}

// A channel's maxOutputTokens caps what a converted request asks for.
func TestEncodeRequestCapsOutput(t *testing.T) {
	call := *compatible
	call.Channel = &aiproxy.Channel{Config: []byte(`{"maxOutputTokens":16384}`)}
	for want, sent := range map[int64]int64{128000: 16384, 1000: 1000} {
		b, err := Codec{}.EncodeRequest(&chat.Request{MaxTokens: want}, &call)
		if got := gjson.GetBytes(b, "max_tokens").Int(); err != nil || got != sent {
			t.Errorf("asked %d: sent %d (%v), want %d", want, got, err, sent)
		}
	}
	if cfg, err := checkConfig([]byte(` {"maxOutputTokens":16384} `)); err != nil || string(cfg) != `{"maxOutputTokens":16384}` {
		t.Errorf("checkConfig = %s, %v", cfg, err)
	}
	for _, bad := range []string{`{"maxOutputTokens":0}`, `{"maxOutputTokens":"1"}`, `{"other":1}`, `[1]`} {
		if _, err := checkConfig([]byte(bad)); aiproxy.ErrorCode(err) != aiproxy.EINVALID {
			t.Errorf("checkConfig(%s) = %v", bad, err)
		}
	}
}

func TestEncodeRequestRefuses(t *testing.T) {
	media := func(m chat.Media) chat.Part { return chat.Part{Kind: chat.KindMedia, Media: &m} }
	user := func(parts ...chat.Part) []chat.Message { return []chat.Message{{Role: chat.RoleUser, Parts: parts}} }
	tests := []struct {
		name  string
		c     *chat.Request
		field string
	}{
		{"ogg audio", &chat.Request{Messages: user(media(chat.Media{MediaType: "audio/ogg", Data: "T2dnUw=="}))}, "messages[0]"},
		{"audio by URL", &chat.Request{Messages: user(media(chat.Media{MediaType: "audio/wav", URL: "https://x/a.wav"}))}, "messages[0]"},
		{"a PDF by URL", &chat.Request{Messages: user(media(chat.Media{MediaType: "application/pdf", URL: "gs://b/a.pdf"}))}, "messages[0]"},
		{"an image in the system prompt", &chat.Request{System: []chat.Part{media(chat.Media{MediaType: "image/png", Data: png1x1})}}, "system"},
		{"an image from the assistant", &chat.Request{Messages: []chat.Message{{Role: chat.RoleAssistant, Parts: []chat.Part{media(chat.Media{MediaType: "image/png", Data: png1x1})}}}}, "messages[0]"},
		{"a tool call from the user", &chat.Request{Messages: user(chat.Part{Kind: chat.KindToolCall, Call: &chat.ToolCall{ID: "c", Name: "f"}})}, "messages[0]"},
		{"a bad role", &chat.Request{Messages: []chat.Message{{Role: "tool"}}}, "messages[0].role"},
		{"a call without id", &chat.Request{Messages: []chat.Message{{Role: chat.RoleAssistant, Parts: []chat.Part{{Kind: chat.KindToolCall, Call: &chat.ToolCall{Name: "f"}}}}}}, "messages[0]"},
		{"a result without id", &chat.Request{Messages: user(chat.Part{Kind: chat.KindToolResult, Result: &chat.ToolResult{Name: "f"}})}, "messages[0]"},
		{"bad parameters", &chat.Request{Tools: []chat.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":`)}}}, "tools[0].parameters"},
		{"bad schema", &chat.Request{Format: &chat.Format{Type: chat.FormatJSONSchema, Schema: json.RawMessage(`{`)}}, "response_format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Codec{}.EncodeRequest(tt.c, compatible)
			if b != nil {
				t.Fatalf("encoded %s", b)
			}
			wantField(t, err, tt.field)
		})
	}
}

func TestOfficialHost(t *testing.T) {
	for base, want := range map[string]bool{
		"https://api.openai.com/v1":       true,
		"https://API.OpenAI.com:443/v1/":  true,
		"https://api.openai.com":          true,
		"https://api.openai.com.evil/v1":  false,
		"https://eu.api.openai.com/v1":    false,
		"http://localhost:11434/v1":       false,
		"https://openrouter.ai/api/v1":    false,
		"https://proxy/api.openai.com/v1": false,
	} {
		if got := officialHost(base); got != want {
			t.Errorf("officialHost(%q) = %v, want %v", base, got, want)
		}
	}
}

// TestRequestGolden decodes the OpenAI requests of testdata/convert
// (request_*.json) into the neutral form and encodes them back for an
// OpenAI-compatible server; and encodes the neutral requests there
// (chat_request_*.json, as other protocols' decoders make them) for a
// compatible server and for OpenAI. -update rewrites the golden files.
func TestRequestGolden(t *testing.T) {
	eachFixture(t, "request_*.json", func(t *testing.T, body []byte, base string) {
		c, err := decodeBody(string(body))
		if err != nil {
			t.Fatalf("DecodeRequest: %v", err)
		}
		golden(t, base+".chat.golden", []byte(show(c)))
		out, err := Codec{}.EncodeRequest(c, compatible)
		if err != nil {
			t.Fatalf("EncodeRequest: %v", err)
		}
		golden(t, base+".openai.golden", indent(t, out))
	})
	eachFixture(t, "chat_request_*.json", func(t *testing.T, _ []byte, base string) {
		var c chat.Request
		readChatJSON(t, base+".json", &c)
		for name, call := range map[string]*relay.Call{"compatible": compatible, "official": official} {
			out, err := Codec{}.EncodeRequest(&c, call)
			if err != nil {
				t.Fatalf("EncodeRequest for %s: %v", name, err)
			}
			golden(t, base+"."+name+".golden", indent(t, out))
		}
	})
}

// eachFixture runs f on each file of testdata/convert matching pattern,
// with its content and its path without the extension.
func eachFixture(t *testing.T, pattern string, f func(t *testing.T, content []byte, base string)) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata/convert", pattern))
	if len(files) == 0 {
		t.Fatalf("no testdata/convert/%s", pattern)
	}
	for _, file := range files {
		base := strings.TrimSuffix(file, filepath.Ext(file))
		t.Run(filepath.Base(base), func(t *testing.T) {
			content, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f(t, content, base)
		})
	}
}

// A request decoded then encoded for a compatible server keeps what
// matters: the same messages, tools and parameters, the model renamed.
func TestRequestRoundTrip(t *testing.T) {
	eachFixture(t, "request_*.json", func(t *testing.T, in []byte, _ string) {
		c, err := decodeBody(string(in))
		if err != nil {
			t.Fatal(err)
		}
		out, err := Codec{}.EncodeRequest(c, &relay.Call{UpstreamModel: c.Model, BaseURL: "http://compatible/v1", Stream: c.Stream})
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeBody(string(out))
		if err != nil {
			t.Fatalf("decoding the encoded request: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(normal(c), normal(again)) {
			t.Fatalf("round trip lost something:\nfirst\n%ssecond\n%s", show(normal(c)), show(normal(again)))
		}
		src, dst := gjson.ParseBytes(in), gjson.ParseBytes(out)
		for _, path := range []string{"temperature", "top_p", "seed", "presence_penalty", "frequency_penalty", "parallel_tool_calls", "stream"} {
			if a, b := src.Get(path), dst.Get(path); a.Exists() && !reflect.DeepEqual(a.Value(), b.Value()) {
				t.Errorf("%s: %s became %s", path, a.Raw, b.Raw)
			}
		}
		a, b := src.Get("messages.#.tool_call_id").Array(), dst.Get("messages.#.tool_call_id").Array()
		if len(a) != len(b) {
			t.Fatalf("tool_call_ids %v became %v", a, b)
		}
		for i := range a {
			if id, _ := chat.SplitCallID(a[i].Str); id != b[i].Str {
				t.Errorf("tool_call_id %s became %s", a[i].Str, b[i].Str)
			}
		}
	})
}

// normal merges each message's adjacent text parts (which the encoding
// joins) and drops what the encoding leaves out by design: cache marks,
// the thought signatures of calls (Gemini's, not sent to OpenAI
// providers), and Reasoning.Off (sent as no reasoning_effort).
func normal(c *chat.Request) *chat.Request {
	n := *c
	if n.Reasoning != nil && n.Reasoning.Off {
		n.Reasoning = nil
	}
	merge := func(parts []chat.Part) []chat.Part {
		var out []chat.Part
		for _, p := range parts {
			p.Cache = false
			if p.Kind == chat.KindToolCall {
				call := *p.Call
				call.Signature = ""
				p.Call = &call
			}
			if p.Kind == chat.KindToolResult {
				r := *p.Result
				r.Parts = mergeText(r.Parts)
				p.Result = &r
			}
			out = append(out, p)
		}
		return mergeText(out)
	}
	n.System = merge(c.System)
	n.Messages = nil
	for _, m := range c.Messages {
		n.Messages = append(n.Messages, chat.Message{Role: m.Role, Parts: merge(m.Parts)})
	}
	return &n
}

func mergeText(parts []chat.Part) []chat.Part {
	var out []chat.Part
	for _, p := range parts {
		if n := len(out); n > 0 && p.Kind == chat.KindText && out[n-1].Kind == chat.KindText {
			out[n-1].Text += textSep + p.Text
			continue
		}
		out = append(out, p)
	}
	return out
}
