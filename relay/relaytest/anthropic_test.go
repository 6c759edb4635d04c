package relaytest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/aiproxy/aiproxy/relay/relaytest"
)

func userMessage(model, text string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     model,
		MaxTokens: 1024,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))},
	}
}

func TestAnthropicMessage(t *testing.T) {
	p, srv := relaytest.StartAnthropic(t, relaytest.WithKey(testKey), relaytest.WithCachedTokens(1))
	c := newAnthropicClient(t, srv, testKey)
	params := userMessage("claude-sonnet-5-5", "hi there")
	params.System = []anthropic.TextBlockParam{{Text: "be brief"}}
	params.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "lookup", InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{}}}}}
	var res *http.Response
	got, err := c.Messages.New(t.Context(), params, aoption.WithResponseInto(&res))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.ID, "msg_01") || len(got.ID) != 28 || got.Type != "message" || got.Role != "assistant" || got.Model != "claude-sonnet-5-5" {
		t.Errorf("id %q, type %q, role %q, model %q", got.ID, got.Type, got.Role, got.Model)
	}
	if len(got.Content) != 1 || got.Content[0].Type != "text" || got.Content[0].Text != "Hello! You said: hi there" {
		t.Errorf("content %s", got.RawJSON())
	}
	if got.StopReason != anthropic.StopReasonEndTurn || got.JSON.StopSequence.Raw() != "null" {
		t.Errorf("stop reason %q, stop sequence %q", got.StopReason, got.JSON.StopSequence.Raw())
	}
	if u := got.Usage; u.InputTokens != 3 || u.CacheReadInputTokens != 1 || u.CacheCreationInputTokens != 0 || u.OutputTokens != 5 || u.ServiceTier != "standard" {
		t.Errorf("usage %s", u.RawJSON())
	}
	if id := res.Header.Get("Request-Id"); !strings.HasPrefix(id, "req_011C") || len(id) != 28 {
		t.Errorf("request-id %q", id)
	}
	reqs := p.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests recorded", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/v1/messages" || r.Header.Get("Anthropic-Version") == "" || r.JSON["model"] != "claude-sonnet-5-5" {
		t.Errorf("recorded %s %s, version %q, body %s", r.Method, r.Path, r.Header.Get("Anthropic-Version"), r.Body)
	}
	conv := r.Conversation
	if conv == nil || conv.System != "be brief" || conv.Said != "hi there" || conv.Turns != 1 || conv.MaxTokens != 1024 || len(conv.Tools) != 1 || conv.Tools[0] != "lookup" || conv.PromptTokens != 4 {
		t.Errorf("conversation %+v", conv)
	}
}

// sseEvent is one event of a Messages stream.
type sseEvent struct {
	name string
	data map[string]any
}

// anthropicEvents posts body and parses the event stream that answers it,
// checking that each event's name is its data's type.
func anthropicEvents(t *testing.T, body string, opts ...relaytest.Option) []sseEvent {
	t.Helper()
	_, srv := relaytest.StartAnthropic(t, opts...)
	res, raw := do(t, srv, newRequest(t.Context(), srv.URL+"/v1/messages", body, "Anthropic-Version", "2023-06-01"))
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("%d %q: %s", res.StatusCode, res.Header.Get("Content-Type"), raw)
	}
	var events []sseEvent
	for _, block := range strings.Split(strings.TrimSuffix(string(raw), "\n\n"), "\n\n") {
		name, data, ok := strings.Cut(block, "\n")
		name, ok1 := strings.CutPrefix(name, "event: ")
		data, ok2 := strings.CutPrefix(data, "data: ")
		var e sseEvent
		if !ok || !ok1 || !ok2 || json.Unmarshal([]byte(data), &e.data) != nil {
			t.Fatalf("event %q", block)
		}
		e.name = name
		if e.data["type"] != name {
			t.Errorf("event %q has data of type %v", name, e.data["type"])
		}
		events = append(events, e)
	}
	return events
}

func TestAnthropicStreamEvents(t *testing.T) {
	events := anthropicEvents(t, `{"model":"fake-reasoning-tools","max_tokens":100,"stream":true,
		"tools":[{"name":"get_weather","input_schema":{"type":"object"}},{"name":"get_time","input_schema":{"type":"object"}}],
		"messages":[{"role":"user","content":"weather?"}]}`)
	var names []string
	for _, e := range events {
		names = append(names, e.name)
	}
	// thinking: start, 2 thinking_delta, signature_delta, stop; each tool:
	// start, "" and 3 fragments, stop.
	want := "message_start ping " +
		"content_block_start content_block_delta content_block_delta content_block_delta content_block_delta content_block_stop " +
		"content_block_start content_block_delta content_block_delta content_block_delta content_block_delta content_block_stop " +
		"content_block_start content_block_delta content_block_delta content_block_delta content_block_delta content_block_stop " +
		"message_delta message_stop"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("events\n%s\nwant\n%s", got, want)
	}
	start := events[0].data["message"].(map[string]any)
	if start["stop_reason"] != nil || len(start["content"].([]any)) != 0 || start["usage"].(map[string]any)["output_tokens"] != 1.0 {
		t.Errorf("message_start %v", start)
	}
	var thinking, sig string
	inputs := map[float64]string{}
	fragments := map[float64]int{}
	for _, e := range events {
		if e.name != "content_block_delta" {
			continue
		}
		i := e.data["index"].(float64)
		d := e.data["delta"].(map[string]any)
		switch d["type"] {
		case "thinking_delta":
			thinking += d["thinking"].(string)
		case "signature_delta":
			sig = d["signature"].(string)
		case "input_json_delta":
			inputs[i] += d["partial_json"].(string)
			fragments[i]++
		}
	}
	if thinking != "Thinking about: weather?" || sig != relaytest.Signature(thinking) {
		t.Errorf("thinking %q, signature %q", thinking, sig)
	}
	if inputs[1] != relaytest.WeatherArgs || inputs[2] != relaytest.TimeArgs || fragments[1] < 4 || fragments[2] < 4 {
		t.Errorf("tool inputs %v in %v fragments", inputs, fragments)
	}
	if b := events[8].data["content_block"].(map[string]any); b["type"] != "tool_use" || b["name"] != "get_weather" || !strings.HasPrefix(b["id"].(string), "toolu_01") || len(b["input"].(map[string]any)) != 0 {
		t.Errorf("tool_use start %v", b)
	}
	d := events[len(events)-2].data
	if d["delta"].(map[string]any)["stop_reason"] != "tool_use" || d["usage"].(map[string]any)["output_tokens"] != 7.0 || d["usage"].(map[string]any)["input_tokens"] != 1.0 {
		t.Errorf("message_delta %v", d)
	}
}

func TestAnthropicStreamChunks(t *testing.T) {
	events := anthropicEvents(t, `{"model":"m","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"a b c"}]}`, relaytest.WithChunks(3))
	var texts []string
	for _, e := range events {
		if d, ok := e.data["delta"].(map[string]any); ok && d["type"] == "text_delta" {
			texts = append(texts, d["text"].(string))
		}
	}
	if got := strings.Join(texts, "|"); got != "Hello! You| said: a| b c" {
		t.Errorf("text deltas %q", got)
	}
}

func TestAnthropicSignatures(t *testing.T) {
	_, srv := relaytest.StartAnthropic(t)
	c := newAnthropicClient(t, srv, testKey)
	first, err := c.Messages.New(t.Context(), userMessage(relaytest.ModelReasoning, "hi"))
	if err != nil {
		t.Fatal(err)
	}
	th := first.Content[0]
	if th.Type != "thinking" || th.Thinking != "Thinking about: hi" || th.Signature != relaytest.Signature(th.Thinking) {
		t.Fatalf("first block %s", th.RawJSON())
	}
	for _, tt := range []struct {
		name      string
		thinking  anthropic.ContentBlockParamUnion
		wantError string
	}{
		{"intact", anthropic.NewThinkingBlock(th.Signature, th.Thinking), ""},
		{"text changed", anthropic.NewThinkingBlock(th.Signature, th.Thinking+"!"), "messages.1.content.0: Invalid `signature` in `thinking` block"},
		{"signature changed", anthropic.NewThinkingBlock("x"+th.Signature[1:], th.Thinking), "messages.1.content.0: Invalid `signature` in `thinking` block"},
		{"no signature", anthropic.ContentBlockParamUnion{OfThinking: &anthropic.ThinkingBlockParam{Thinking: th.Thinking}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			params := userMessage(relaytest.ModelReasoning, "hi")
			params.Messages = append(params.Messages,
				anthropic.NewAssistantMessage(tt.thinking, anthropic.NewTextBlock(first.Content[1].Text)),
				anthropic.NewUserMessage(anthropic.NewTextBlock("again")))
			_, err := c.Messages.New(t.Context(), params)
			if tt.name == "no signature" {
				// The SDK sends "signature":"", which the fake finds wrong.
				tt.wantError = "messages.1.content.0: Invalid `signature` in `thinking` block"
			}
			if tt.wantError == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" || apiErr.Message != tt.wantError {
				t.Errorf("error %v, want 400 invalid_request_error %q", err, tt.wantError)
			}
		})
	}
}

func TestAnthropicErrors(t *testing.T) {
	_, srv := relaytest.StartAnthropic(t, relaytest.WithKey(testKey))
	for _, tt := range []struct {
		model, key string
		status     int
		typ        string
	}{
		{relaytest.ModelBadRequest, testKey, 400, "invalid_request_error"},
		{relaytest.ModelUnauthorized, testKey, 401, "authentication_error"},
		{relaytest.ModelForbidden, testKey, 403, "permission_error"},
		{relaytest.ModelNotFound, testKey, 404, "not_found_error"},
		{relaytest.ModelRateLimited, testKey, 429, "rate_limit_error"},
		{relaytest.ModelServerError, testKey, 500, "api_error"},
		{relaytest.ModelUnavailable, testKey, 503, "overloaded_error"},
		{relaytest.ModelOverloaded, testKey, 529, "overloaded_error"},
		{"claude-sonnet-5-5", "sk-wrong", 401, "authentication_error"},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/key=%s/stream=%v", tt.model, tt.key, stream), func(t *testing.T) {
				c := newAnthropicClient(t, srv, tt.key)
				var err error
				if stream {
					s := c.Messages.NewStreaming(t.Context(), userMessage(tt.model, "hi"))
					for s.Next() {
						t.Error("got an event")
					}
					err = s.Err()
				} else {
					_, err = c.Messages.New(t.Context(), userMessage(tt.model, "hi"))
				}
				var apiErr *anthropic.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("error %v, want *anthropic.Error", err)
				}
				if apiErr.StatusCode != tt.status || string(apiErr.Type()) != tt.typ || apiErr.Message == "" || !strings.HasPrefix(apiErr.RequestID, "req_011C") {
					t.Errorf("status %d, type %q, message %q, request id %q; want %d, %q", apiErr.StatusCode, apiErr.Type(), apiErr.Message, apiErr.RequestID, tt.status, tt.typ)
				}
				if tt.status == 429 && apiErr.Response.Header.Get("Retry-After") != "1" {
					t.Errorf("retry-after %q", apiErr.Response.Header.Get("Retry-After"))
				}
			})
		}
	}
}

func TestAnthropicStreamError(t *testing.T) {
	_, srv := relaytest.StartAnthropic(t)
	c := newAnthropicClient(t, srv, testKey)
	s := c.Messages.NewStreaming(t.Context(), userMessage(relaytest.ModelStreamError, "hi"))
	var msg anthropic.Message
	for s.Next() {
		if err := msg.Accumulate(s.Current()); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Err()
	if err == nil || !strings.Contains(err.Error(), "overloaded_error") {
		t.Errorf("error %v, want the overloaded_error event", err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "Hello!" {
		t.Errorf("accumulated %s, want the first piece", msg.RawJSON())
	}
}

func TestAnthropicMalformed(t *testing.T) {
	_, srv := relaytest.StartAnthropic(t, relaytest.WithKey(testKey))
	const version = "2023-06-01"
	ok := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	for _, tt := range []struct {
		name, method, path string
		header             []string
		body               string
		status             int
		typ, message       string
	}{
		{"no key", "POST", "/v1/messages", []string{"Anthropic-Version", version}, ok, 401, "authentication_error", "x-api-key header is required"},
		{"wrong key", "POST", "/v1/messages", []string{"X-Api-Key", "nope", "Anthropic-Version", version}, ok, 401, "authentication_error", "invalid x-api-key"},
		{"wrong bearer", "POST", "/v1/messages", []string{"Authorization", "Bearer nope", "Anthropic-Version", version}, ok, 401, "authentication_error", "Invalid bearer token"},
		{"no version", "POST", "/v1/messages", []string{"X-Api-Key", testKey}, ok, 400, "invalid_request_error", "anthropic-version: header is required"},
		{"bad version", "POST", "/v1/messages", []string{"X-Api-Key", testKey, "Anthropic-Version", "latest"}, ok, 400, "invalid_request_error", `anthropic-version: "latest" is not a valid version`},
		{"unknown path", "POST", "/v1/complete", []string{"X-Api-Key", testKey, "Anthropic-Version", version}, ok, 404, "not_found_error", "Not Found"},
		{"not json", "POST", "/v1/messages", []string{"X-Api-Key", testKey, "Anthropic-Version", version}, `{"model":`, 400, "invalid_request_error", "Request body is not valid JSON."},
		{"extra field", "POST", "/v1/messages", []string{"X-Api-Key", testKey, "Anthropic-Version", version}, `{"model":"m","max_tokens":10,"max_completion_tokens":5,"messages":[]}`, 400, "invalid_request_error", "max_completion_tokens: Extra inputs are not permitted"},
		{"no model", "POST", "/v1/messages", []string{"X-Api-Key", testKey, "Anthropic-Version", version}, `{"max_tokens":10,"messages":[]}`, 400, "invalid_request_error", "model: Field required"},
		{"no max_tokens", "POST", "/v1/messages", []string{"X-Api-Key", testKey, "Anthropic-Version", version}, `{"model":"m","messages":[]}`, 400, "invalid_request_error", "max_tokens: Field required"},
		{"no messages", "POST", "/v1/messages", []string{"X-Api-Key", testKey, "Anthropic-Version", version}, `{"model":"m","max_tokens":10}`, 400, "invalid_request_error", "messages: Field required"},
		{"tool role", "POST", "/v1/messages", []string{"X-Api-Key", testKey, "Anthropic-Version", version}, `{"model":"m","max_tokens":10,"messages":[{"role":"tool","content":"x"},{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "messages.0.role: Input should be 'user', 'assistant' or 'system'"},
		{"tool_use unanswered", "POST", "/v1/messages", []string{"X-Api-Key", testKey, "Anthropic-Version", version},
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_a","name":"f","input":{}},{"type":"tool_use","id":"toolu_b","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_a","content":"x"}]}]}`,
			400, "invalid_request_error", "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_b. Each `tool_use` block must have a corresponding `tool_result` block in the next message."},
		{"unexpected tool_result", "POST", "/v1/messages", []string{"X-Api-Key", testKey, "Anthropic-Version", version},
			`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"x"}]}]}`,
			400, "invalid_request_error", "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_x. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."},
		{"bearer accepted", "POST", "/v1/messages/count_tokens", []string{"Authorization", "Bearer " + testKey, "Anthropic-Version", version}, `{"model":"m","messages":[{"role":"user","content":"one two"}]}`, 200, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t.Context(), srv.URL+tt.path, tt.body, tt.header...)
			req.Method = tt.method
			res, body := do(t, srv, req)
			if res.StatusCode != tt.status {
				t.Fatalf("%d %s, want %d", res.StatusCode, body, tt.status)
			}
			if tt.status == 200 {
				return
			}
			if typ, msg, _ := errorOf(t, "anthropic", body); typ != tt.typ || msg != tt.message {
				t.Errorf("%s %q, want %s %q", typ, msg, tt.typ, tt.message)
			}
		})
	}
}

func TestAnthropicMaxTokens(t *testing.T) {
	_, srv := relaytest.StartAnthropic(t)
	c := newAnthropicClient(t, srv, testKey)
	params := userMessage("m", "one two three")
	params.MaxTokens = 3
	got, err := c.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if got.Content[0].Text != "Hello! You said:" || got.StopReason != anthropic.StopReasonMaxTokens || got.Usage.OutputTokens != 3 {
		t.Errorf("%s", got.RawJSON())
	}
}

func TestAnthropicCountTokens(t *testing.T) {
	p, srv := relaytest.StartAnthropic(t)
	c := newAnthropicClient(t, srv, testKey)
	got, err := c.Messages.CountTokens(t.Context(), anthropic.MessageCountTokensParams{
		Model:    "m",
		System:   anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("be brief")},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("one two three"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.InputTokens != 5 {
		t.Errorf("input tokens %d, want 5", got.InputTokens)
	}
	if r := p.Requests()[0]; r.Path != "/v1/messages/count_tokens" || r.Conversation == nil || r.Conversation.PromptTokens != 5 {
		t.Errorf("recorded %s %+v", r.Path, r.Conversation)
	}
}

func TestAnthropicModels(t *testing.T) {
	ids := []string{"claude-a-1", "claude-b-2-20250929", "claude-c", "claude-d", "claude-e"}
	_, srv := relaytest.StartAnthropic(t, relaytest.WithModels(ids...))
	c := newAnthropicClient(t, srv, testKey)

	var got []string
	iter := c.Models.ListAutoPaging(t.Context(), anthropic.ModelListParams{Limit: anthropic.Int(2)})
	for iter.Next() {
		m := iter.Current()
		if m.Type != "model" || m.DisplayName == "" || m.CreatedAt.IsZero() {
			t.Errorf("model %s", m.RawJSON())
		}
		got = append(got, m.ID)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Errorf("listed %q, want %q", got, ids)
	}

	page, err := c.Models.List(t.Context(), anthropic.ModelListParams{Limit: anthropic.Int(2), BeforeID: anthropic.String("claude-d")})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != "claude-b-2-20250929" || !page.HasMore || page.FirstID != "claude-b-2-20250929" || page.LastID != "claude-c" {
		t.Errorf("page before claude-d: %s", page.RawJSON())
	}

	m, err := c.Models.Get(t.Context(), "claude-b-2-20250929", anthropic.ModelGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if m.DisplayName != "Claude B 2" || m.CreatedAt.Format("2006-01-02") != "2025-09-29" {
		t.Errorf("model %s", m.RawJSON())
	}
	_, err = c.Models.Get(t.Context(), "claude-z", anthropic.ModelGetParams{})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Type() != "not_found_error" {
		t.Errorf("unknown model: %v", err)
	}
}

func TestAnthropicDefaultModels(t *testing.T) {
	_, srv := relaytest.StartAnthropic(t)
	c := newAnthropicClient(t, srv, testKey)
	page, err := c.Models.List(t.Context(), anthropic.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range page.Data {
		got = append(got, m.ID+"="+m.DisplayName)
	}
	if strings.Join(got, ",") != "claude-sonnet-5-5=Claude Sonnet 5.5,claude-opus-5-5=Claude Opus 5.5,claude-haiku-5-5=Claude Haiku 5.5" || page.HasMore {
		t.Errorf("listed %q", got)
	}
}

// BenchmarkAnthropicServeHTTP measures the Anthropic fake alone, without a
// network.
func BenchmarkAnthropicServeHTTP(b *testing.B) {
	for _, bb := range []struct{ name, body string }{
		{"message", `{"model":"claude-sonnet-5-5","max_tokens":100,"messages":[{"role":"user","content":"hello there, how are you today?"}]}`},
		{"stream", `{"model":"claude-sonnet-5-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hello there, how are you today?"}]}`},
	} {
		b.Run(bb.name, func(b *testing.B) {
			p := relaytest.NewAnthropicProvider(relaytest.WithoutRecording())
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(bb.body))
				req.Header.Set("Anthropic-Version", "2023-06-01")
				w := httptest.NewRecorder()
				p.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body)
				}
			}
		})
	}
}

// System-role messages inside the history, as Claude Code sends them, are
// taken as instructions: part of the system prompt, not turns.
func TestAnthropicSystemRoleMessages(t *testing.T) {
	p, srv := relaytest.StartAnthropic(t, relaytest.WithKey(testKey))
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages", strings.NewReader(
		`{"model":"m","max_tokens":10,"system":"Be brief.","messages":[{"role":"user","content":"hi there"},{"role":"system","content":[{"type":"text","text":"Env: linux"}]}]}`))
	req.Header.Set("X-Api-Key", testKey)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	conv := p.Requests()[0].Conversation
	if resp.StatusCode != 200 || conv.System != "Be brief. Env: linux" || conv.Turns != 1 || conv.Said != "hi there" || conv.PromptTokens != 6 {
		t.Errorf("%d, conversation %+v", resp.StatusCode, conv)
	}
}
