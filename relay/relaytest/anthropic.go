package relaytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// This file holds the fake of Anthropic's Messages API, written from the
// Anthropic Go SDK's types (github.com/anthropics/anthropic-sdk-go/v2) and
// Anthropic's API reference; it shares no code with the gateway's Anthropic
// codec.

// DefaultAnthropicModels is what the Anthropic fake's GET /v1/models lists
// unless WithModels says otherwise.
var DefaultAnthropicModels = []string{"claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5"}

// AnthropicProvider is a fake of api.anthropic.com. It implements
// http.Handler for POST /v1/messages (streamed or not), POST
// /v1/messages/count_tokens, GET /v1/models and GET /v1/models/{id}; any
// other method or path is answered 404 not_found_error. The base URL of a
// channel pointing at it is the server's URL, without /v1.
//
// Every request must carry an anthropic-version header: a date from 2023
// on, such as "2023-06-01" or the "2026-10-21" the Go SDK sends (400
// invalid_request_error "anthropic-version: header is required" without
// it, as Anthropic words it, and '"x" is not a valid version' for another
// value), and, with WithKey, the key as
// x-api-key or as "Authorization: Bearer", as the Anthropic Go SDK sends it
// (401 authentication_error: "x-api-key header is required", "invalid
// x-api-key", "Invalid bearer token"). A messages request must name a
// model and set max_tokens and messages ("max_tokens: Field required" and
// so on), and may hold only the fields the Messages API knows (others are
// refused with "<field>: Extra inputs are not permitted"). As Anthropic
// does, the fake refuses (400) a history whose thinking block's signature
// is missing or is not Signature of its text, whose tool_use blocks are
// not answered by tool_result blocks in the next message, or whose
// tool_result blocks answer no tool_use of the previous message.
//
// A message is {"id":"msg_01…","type":"message","role":"assistant",
// "model":<the request's>,"content":[…],"stop_reason":…,
// "stop_sequence":null,"stop_details":null,"usage":{…}}, content holding a
// thinking block (reasoning models), a text block, tool_use blocks (tool
// models); stop_reason is "end_turn", "max_tokens" or "tool_use". Usage
// has input_tokens (the prompt less cache reads), cache_read_input_tokens
// (WithCachedTokens), cache_creation_input_tokens 0 and output_tokens
// (reply, reasoning and tool calls). A stream is message_start (usage with
// output_tokens 1), ping, then for each block content_block_start,
// content_block_delta events (text_delta a word at a time, see WithChunks;
// thinking_delta a word at a time then one signature_delta; input_json_delta
// of "" then three fragments of the arguments) and content_block_stop, one
// index per block, then message_delta (stop_reason and the cumulative
// usage, input_tokens included, as the API sends it now) and message_stop;
// each event is "event: <type>" and "data: <json>" lines, flushed one at a
// time. Errors are {"type":"error","error":{"type","message"},
// "request_id"}. Every answer has a request-id header ("req_011C" and 20
// characters).
//
// An AnthropicProvider is safe for concurrent use; its zero value is not,
// use NewAnthropicProvider. Every Option applies but WithEarlyAnswer.
type AnthropicProvider struct {
	fake
}

// NewAnthropicProvider returns an Anthropic fake configured by opts. It
// listens nowhere: serve it with StartAnthropic, httptest.NewServer or any
// http.Server. Its ids are deterministic: the nth request of a provider
// always gets the same request, message and tool ids.
func NewAnthropicProvider(opts ...Option) *AnthropicProvider {
	p := &AnthropicProvider{}
	p.init(opts, DefaultAnthropicModels)
	return p
}

// StartAnthropic serves a new Anthropic fake on an httptest.Server and
// closes both when tb finishes. The base URL of a channel pointing at it is
// srv.URL.
func StartAnthropic(tb testing.TB, opts ...Option) (*AnthropicProvider, *httptest.Server) {
	tb.Helper()
	p := NewAnthropicProvider(opts...)
	return p, serve(tb, p)
}

// anthropicError is an error Anthropic answers.
type anthropicError struct {
	status  int
	typ     string
	message string
}

// invalidRequest is a 400 invalid_request_error.
func invalidRequest(message string) *anthropicError {
	return &anthropicError{http.StatusBadRequest, "invalid_request_error", message}
}

// The fields a Messages request may hold, those of the SDK's
// MessageNewParams and BetaMessageNewParams and the sampling parameters
// older models still take.
var anthropicFields = map[string]bool{
	"model": true, "messages": true, "max_tokens": true, "system": true, "metadata": true,
	"stop_sequences": true, "stream": true, "temperature": true, "top_p": true, "top_k": true,
	"tools": true, "tool_choice": true, "thinking": true, "service_tier": true, "container": true,
	"context_management": true, "mcp_servers": true, "cache_control": true, "diagnostics": true,
	"inference_geo": true, "output_config": true, "output_format": true, "speed": true,
	"billing_policy": true, "compaction": true, "fallback_credit_token": true, "fallbacks": true,
	"thread": true,
}

// ServeHTTP answers one request; see AnthropicProvider and the Model
// constants.
func (p *AnthropicProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.active.Add(1)
	defer p.active.Add(-1)

	body, err := io.ReadAll(r.Body)
	if err != nil {
		p.cancelled.Add(1)
		return
	}
	n := p.record(r, body)
	id := p.ident("req_011C", 20)
	w.Header().Set("Request-Id", id)

	path := r.URL.Path
	var count, list bool
	var modelID string
	switch {
	case r.Method == http.MethodPost && path == "/v1/messages":
	case r.Method == http.MethodPost && path == "/v1/messages/count_tokens":
		count = true
	case r.Method == http.MethodGet && path == "/v1/models":
		list = true
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/models/") && !strings.Contains(path[len("/v1/models/"):], "/") && len(path) > len("/v1/models/"):
		modelID = path[len("/v1/models/"):]
	default:
		p.writeError(w, id, &anthropicError{http.StatusNotFound, "not_found_error", "Not Found"})
		return
	}
	if e := p.authorize(r); e != nil {
		p.writeError(w, id, e)
		return
	}
	if v := r.Header.Get("Anthropic-Version"); v == "" {
		p.writeError(w, id, invalidRequest("anthropic-version: header is required"))
		return
	} else if t, err := time.Parse(time.DateOnly, v); err != nil || t.Year() < 2023 {
		p.writeError(w, id, invalidRequest("anthropic-version: "+strconv.Quote(v)+" is not a valid version"))
		return
	}
	if list {
		p.writeJSON(w, http.StatusOK, appendAnthropicModels(nil, p.modelIDs, r.URL.Query()))
		return
	}
	if modelID != "" {
		if !contains(p.modelIDs, modelID) {
			p.writeError(w, id, &anthropicError{http.StatusNotFound, "not_found_error", "model: " + modelID})
			return
		}
		p.writeJSON(w, http.StatusOK, appendAnthropicModel(nil, modelID))
		return
	}

	conv, e := parseAnthropic(body, count)
	if conv != nil {
		p.setConversation(n, conv)
	}
	if e != nil {
		p.writeError(w, id, e)
		return
	}
	b := behaviourOf(conv.Model)
	switch {
	case b == fail:
		p.writeError(w, id, anthropicModelError(conv.Model))
		return
	case b == hang || (b == hold && (!conv.Stream || count)):
		p.hold(r.Context())
		return
	case count:
		p.writeJSON(w, http.StatusOK, append(strconv.AppendInt([]byte(`{"input_tokens":`), conv.PromptTokens, 10), '}'))
		return
	case b == streamError && !conv.Stream:
		p.writeError(w, id, errOverloaded)
		return
	}
	pl := p.planFor(conv, b)
	msgID := p.ident("msg_01", 22)
	toolIDs := make([]string, len(pl.calls))
	for i := range toolIDs {
		toolIDs[i] = p.ident("toolu_01", 22)
	}
	if conv.Stream {
		p.stream(w, r, msgID, conv.Model, &pl, toolIDs)
		return
	}
	out := appendAnthropicMessage(nil, msgID, conv.Model, &pl, toolIDs)
	if p.delay > 0 && !p.sleep(r.Context(), nil) {
		return
	}
	if b != cut {
		p.writeJSON(w, http.StatusOK, out)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	writeHalf(w, out)
}

// authorize checks the key when one is configured: x-api-key, or
// "Authorization: Bearer", which the Anthropic SDKs send an API key as.
func (p *AnthropicProvider) authorize(r *http.Request) *anthropicError {
	if p.key == "" {
		return nil
	}
	if key := r.Header.Get("X-Api-Key"); key != "" {
		if key == p.key {
			return nil
		}
		return &anthropicError{http.StatusUnauthorized, "authentication_error", "invalid x-api-key"}
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if key, ok := strings.CutPrefix(h, "Bearer "); ok && key == p.key {
			return nil
		}
		return &anthropicError{http.StatusUnauthorized, "authentication_error", "Invalid bearer token"}
	}
	return &anthropicError{http.StatusUnauthorized, "authentication_error", "x-api-key header is required"}
}

var errOverloaded = &anthropicError{statusOverloaded, "overloaded_error", "Overloaded"}

// anthropicModelError returns the error a ModelXxx error name asks for,
// worded as Anthropic words it.
func anthropicModelError(model string) *anthropicError {
	switch statusOf(model) {
	case http.StatusBadRequest:
		return invalidRequest("model: " + model + " rejects every request")
	case http.StatusUnauthorized:
		return &anthropicError{http.StatusUnauthorized, "authentication_error", "invalid x-api-key"}
	case http.StatusForbidden:
		return &anthropicError{http.StatusForbidden, "permission_error", "Your API key does not have permission to use the specified resource."}
	case http.StatusNotFound:
		return &anthropicError{http.StatusNotFound, "not_found_error", "model: " + model}
	case http.StatusTooManyRequests:
		return &anthropicError{http.StatusTooManyRequests, "rate_limit_error", "This request would exceed the rate limit for your organization of 5 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later."}
	case http.StatusServiceUnavailable:
		return &anthropicError{http.StatusServiceUnavailable, "overloaded_error", "Overloaded"}
	case statusOverloaded:
		return errOverloaded
	}
	return &anthropicError{http.StatusInternalServerError, "api_error", "Internal server error"}
}

// writeJSON writes a JSON answer with status.
func (p *AnthropicProvider) writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes e as Anthropic does, with retry-after and the
// rate-limit headers for a 429.
func (p *AnthropicProvider) writeError(w http.ResponseWriter, id string, e *anthropicError) {
	if e.status == http.StatusTooManyRequests {
		h := w.Header()
		h.Set("Retry-After", "1")
		h.Set("Anthropic-Ratelimit-Requests-Limit", "5")
		h.Set("Anthropic-Ratelimit-Requests-Remaining", "0")
		h.Set("Anthropic-Ratelimit-Requests-Reset", time.Now().Add(time.Second).UTC().Format(time.RFC3339))
	}
	p.writeJSON(w, e.status, appendAnthropicError(nil, e, id))
}

// appendAnthropicError appends {"type":"error","error":{...},"request_id"}.
func appendAnthropicError(b []byte, e *anthropicError, id string) []byte {
	b = append(b, `{"type":"error","error":{"type":`...)
	b = appendString(b, e.typ)
	b = append(b, `,"message":`...)
	b = appendString(b, e.message)
	b = append(b, `},"request_id":`...)
	b = appendString(b, id)
	return append(b, '}')
}

// parseAnthropic validates a Messages (or, with count, count_tokens)
// request and summarises it. It returns the summary whenever the body
// could be parsed, and the error Anthropic would answer, if any.
func parseAnthropic(body []byte, count bool) (*Conversation, *anthropicError) {
	if !gjson.ValidBytes(body) {
		return nil, invalidRequest("Request body is not valid JSON.")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, invalidRequest("Input should be a valid dictionary or object to extract fields from")
	}
	var extra string
	root.ForEach(func(k, _ gjson.Result) bool {
		if !anthropicFields[k.String()] {
			extra = k.String()
			return false
		}
		return true
	})
	if extra != "" {
		return nil, invalidRequest(extra + ": Extra inputs are not permitted")
	}
	model := root.Get("model")
	if model.Type != gjson.String {
		return nil, invalidRequest("model: Field required")
	}
	maxTokens := root.Get("max_tokens")
	if !count {
		if !maxTokens.Exists() {
			return nil, invalidRequest("max_tokens: Field required")
		}
		if maxTokens.Type != gjson.Number || maxTokens.Int() < 1 || float64(maxTokens.Int()) != maxTokens.Num {
			return nil, invalidRequest("max_tokens: Input should be a valid integer greater than or equal to 1")
		}
	}
	msgs := root.Get("messages")
	if !msgs.Exists() {
		return nil, invalidRequest("messages: Field required")
	}
	if !msgs.IsArray() {
		return nil, invalidRequest("messages: Input should be a valid list")
	}
	conv := &Conversation{Model: model.String(), Stream: root.Get("stream").Bool(), MaxTokens: int(maxTokens.Int())}
	if count {
		conv.MaxTokens = 0
	}
	sys := root.Get("system")
	conv.System, _ = anthropicText(sys)
	conv.PromptTokens = int64(Tokens(conv.System))
	for _, t := range root.Get("tools").Array() {
		conv.Tools = append(conv.Tools, t.Get("name").String())
	}

	list := msgs.Array()
	conv.Turns = len(list)
	lastUser := -1
	for i, m := range list {
		if m.Get("role").String() == "user" {
			lastUser = i
		}
	}
	var e *anthropicError
	var prevUses []string // tool_use ids of the previous assistant message
	for i, m := range list {
		role := m.Get("role").String()
		if role == "system" {
			// Instructions inside the history, as Claude Code sends
			// them: part of the system prompt, not a turn.
			text, _ := anthropicText(m.Get("content"))
			conv.System = joinText(conv.System, text)
			conv.PromptTokens += int64(Tokens(text))
			conv.Turns--
			continue
		}
		if role != "user" && role != "assistant" {
			if e == nil {
				e = invalidRequest("messages." + strconv.Itoa(i) + ".role: Input should be 'user', 'assistant' or 'system'")
			}
			continue
		}
		content := m.Get("content")
		if content.Type == gjson.String {
			conv.PromptTokens += int64(Tokens(content.Str))
			if role == "user" {
				conv.Said = content.Str
			}
			if e == nil && len(prevUses) > 0 {
				e = unansweredUses(i-1, prevUses)
			}
			prevUses = nil
			continue
		}
		if !content.IsArray() {
			if e == nil {
				e = invalidRequest("messages." + strconv.Itoa(i) + ".content: Field required")
			}
			continue
		}
		var text string
		var uses, answered []string
		onlyResults := true
		for j, block := range content.Array() {
			typ := block.Get("type").String()
			if typ != "tool_result" {
				onlyResults = false
			}
			switch typ {
			case "text":
				text = joinText(text, block.Get("text").String())
			case "image", "document":
				if i == lastUser {
					conv.Media++
				}
			case "tool_use":
				uses = append(uses, block.Get("id").String())
			case "tool_result":
				useID := block.Get("tool_use_id").String()
				result, _ := anthropicText(block.Get("content"))
				conv.PromptTokens += int64(Tokens(result))
				if i == lastUser {
					conv.ToolResults = append(conv.ToolResults, result)
				}
				if e == nil && !contains(prevUses, useID) {
					e = invalidRequest("messages." + strconv.Itoa(i) + ".content." + strconv.Itoa(j) + ": unexpected `tool_use_id` found in `tool_result` blocks: " + useID + ". Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")
				}
				answered = append(answered, useID)
			case "thinking":
				if e != nil || role != "assistant" {
					break
				}
				sig := block.Get("signature")
				at := "messages." + strconv.Itoa(i) + ".content." + strconv.Itoa(j)
				if sig.Type != gjson.String {
					e = invalidRequest(at + ".thinking.signature: Field required")
				} else if sig.Str != Signature(block.Get("thinking").String()) {
					e = invalidRequest(at + ": Invalid `signature` in `thinking` block")
				}
			}
		}
		conv.PromptTokens += int64(Tokens(text))
		if role == "user" && !onlyResults {
			conv.Said = text
		}
		if e == nil && len(prevUses) > 0 {
			var missing []string
			for _, u := range prevUses {
				if !contains(answered, u) {
					missing = append(missing, u)
				}
			}
			if len(missing) > 0 {
				e = unansweredUses(i-1, missing)
			}
		}
		prevUses = nil
		if role == "assistant" {
			prevUses = uses
		}
	}
	if e == nil && len(list) == 0 {
		e = invalidRequest("messages: at least one message is required")
	}
	return conv, e
}

// unansweredUses is Anthropic's error for tool_use blocks of message i that
// the next message does not answer.
func unansweredUses(i int, ids []string) *anthropicError {
	return invalidRequest("messages." + strconv.Itoa(i) + ": `tool_use` ids were found without `tool_result` blocks immediately after: " + strings.Join(ids, ", ") + ". Each `tool_use` block must have a corresponding `tool_result` block in the next message.")
}

// anthropicText returns the text of a system prompt or a tool result
// content: a string, or the text blocks of an array joined with a space.
// It reports whether v had either shape.
func anthropicText(v gjson.Result) (string, bool) {
	if v.Type == gjson.String {
		return v.Str, true
	}
	if !v.IsArray() {
		return "", false
	}
	var text string
	for _, block := range v.Array() {
		if block.Get("type").String() == "text" {
			text = joinText(text, block.Get("text").String())
		}
	}
	return text, true
}

// anthropicStop names each finish as Anthropic does.
var anthropicStop = [...]string{finishStop: "end_turn", finishLength: "max_tokens", finishTools: "tool_use"}

// appendAnthropicUsage appends a usage object: a message's, or with delta
// the cumulative one of message_delta.
func appendAnthropicUsage(b []byte, pl *plan, output int64, delta bool) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, pl.prompt-pl.cached, 10)
	b = append(b, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, pl.cached, 10)
	if !delta {
		b = append(b, `,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}`...)
	}
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, output, 10)
	if pl.thinking > 0 && output == pl.completion() {
		b = append(b, `,"output_tokens_details":{"thinking_tokens":`...)
		b = strconv.AppendInt(b, pl.thinking, 10)
		b = append(b, '}')
	}
	if !delta {
		b = append(b, `,"service_tier":"standard","inference_geo":"not_available"`...)
	}
	return append(b, '}')
}

// appendAnthropicHead appends a message up to its content's opening
// bracket.
func appendAnthropicHead(b []byte, msgID, model string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, msgID)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = appendString(b, model)
	return append(b, `,"content":[`...)
}

// appendAnthropicMessage appends a whole non-streaming message.
func appendAnthropicMessage(b []byte, msgID, model string, pl *plan, toolIDs []string) []byte {
	b = appendAnthropicHead(b, msgID, model)
	sep := false
	if pl.reasoning != "" {
		b = append(b, `{"type":"thinking","thinking":`...)
		b = appendString(b, pl.reasoning)
		b = append(b, `,"signature":`...)
		b = appendString(b, Signature(pl.reasoning))
		b = append(b, '}')
		sep = true
	}
	if pl.text != "" {
		if sep {
			b = append(b, ',')
		}
		b = append(b, `{"type":"text","text":`...)
		b = appendString(b, pl.text)
		b = append(b, '}')
		sep = true
	}
	for i, call := range pl.calls {
		if sep {
			b = append(b, ',')
		}
		b = appendToolUse(b, toolIDs[i], call.name, call.args)
		sep = true
	}
	b = append(b, `],"stop_reason":`...)
	b = appendString(b, anthropicStop[pl.finish])
	b = append(b, `,"stop_sequence":null,"stop_details":null`...)
	if pl.withUsage {
		b = append(b, `,"usage":`...)
		b = appendAnthropicUsage(b, pl, pl.completion(), false)
	}
	return append(b, '}')
}

// appendToolUse appends a tool_use block whose input is the JSON input.
func appendToolUse(b []byte, id, name, input string) []byte {
	b = append(b, `{"type":"tool_use","id":`...)
	b = appendString(b, id)
	b = append(b, `,"name":`...)
	b = appendString(b, name)
	b = append(b, `,"input":`...)
	b = append(b, input...)
	return append(b, '}')
}

// anthropicStream writes one Messages stream.
type anthropicStream struct {
	eventWriter
	buf []byte
}

// event writes "event: typ" and the data line.
func (s *anthropicStream) event(typ string, data []byte) bool {
	s.buf = append(append(append(append(s.buf[:0], "event: "...), typ...), "\ndata: "...), data...)
	s.buf = append(s.buf, "\n\n"...)
	return s.write(s.buf)
}

// delta writes a content_block_delta of the given type at index, whose
// field key holds value.
func (s *anthropicStream) delta(index int, typ, key, value string) bool {
	b := append([]byte(`{"type":"content_block_delta","index":`), strconv.Itoa(index)...)
	b = append(append(append(b, `,"delta":{"type":"`...), typ...), `","`...)
	b = append(append(b, key...), `":`...)
	b = append(appendString(b, value), "}}"...)
	return s.event("content_block_delta", b)
}

// start writes content_block_start at index with the given block.
func (s *anthropicStream) start(index int, block []byte) bool {
	b := append([]byte(`{"type":"content_block_start","index":`), strconv.Itoa(index)...)
	b = append(append(append(b, `,"content_block":`...), block...), '}')
	return s.event("content_block_start", b)
}

// stop writes content_block_stop at index.
func (s *anthropicStream) stop(index int) bool {
	b := append([]byte(`{"type":"content_block_stop","index":`), strconv.Itoa(index)...)
	return s.event("content_block_stop", append(b, '}'))
}

// stream writes the plan as a Messages stream; see AnthropicProvider.
func (p *AnthropicProvider) stream(w http.ResponseWriter, r *http.Request, msgID, model string, pl *plan, toolIDs []string) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	s := &anthropicStream{eventWriter: p.newEventWriter(w, r)}

	start := append(appendAnthropicHead([]byte(`{"type":"message_start","message":`), msgID, model), `],"stop_reason":null,"stop_sequence":null,"stop_details":null`...)
	if pl.withUsage {
		start = append(start, `,"usage":`...)
		start = appendAnthropicUsage(start, pl, min(1, pl.completion()), false)
	}
	if !s.event("message_start", append(start, "}}"...)) {
		return
	}
	if pl.b == hold {
		p.hold(s.ctx)
		return
	}
	if !s.event("ping", []byte(`{"type": "ping"}`)) {
		return
	}
	index := 0
	if pl.reasoning != "" {
		if !s.start(index, []byte(`{"type":"thinking","thinking":"","signature":""}`)) {
			return
		}
		for _, piece := range split(pl.reasoning, 0) {
			if !s.delta(index, "thinking_delta", "thinking", piece) {
				return
			}
		}
		if !s.delta(index, "signature_delta", "signature", Signature(pl.reasoning)) || !s.stop(index) {
			return
		}
		index++
	}
	if pl.text != "" {
		if !s.start(index, []byte(`{"type":"text","text":""}`)) {
			return
		}
		for _, piece := range pl.pieces(p.chunks) {
			if !s.delta(index, "text_delta", "text", piece) {
				return
			}
			if pl.b == cut || pl.b == streamError {
				break
			}
		}
		if pl.b != cut && pl.b != streamError && !s.stop(index) {
			return
		}
		index++
	}
	switch pl.b {
	case cut:
		panic(http.ErrAbortHandler)
	case streamError:
		s.event("error", appendAnthropicError(nil, errOverloaded, w.Header().Get("Request-Id")))
		return
	}
	for i, call := range pl.calls {
		if !s.start(index, appendToolUse(nil, toolIDs[i], call.name, "{}")) || !s.delta(index, "input_json_delta", "partial_json", "") {
			return
		}
		for _, frag := range fragments(call.args, 3) {
			if !s.delta(index, "input_json_delta", "partial_json", frag) {
				return
			}
		}
		if !s.stop(index) {
			return
		}
		index++
	}
	d := append([]byte(`{"type":"message_delta","delta":{"stop_reason":`), strconv.Quote(anthropicStop[pl.finish])...)
	d = append(d, `,"stop_sequence":null,"stop_details":null}`...)
	if pl.withUsage {
		d = append(d, `,"usage":`...)
		d = appendAnthropicUsage(d, pl, pl.completion(), true)
	}
	if !s.event("message_delta", append(d, '}')) {
		return
	}
	s.event("message_stop", []byte(`{"type":"message_stop"}`))
}

// appendAnthropicModels appends a models list page, honouring the limit,
// after_id and before_id query parameters as Anthropic does.
func appendAnthropicModels(b []byte, ids []string, q map[string][]string) []byte {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	limit := 20
	if n, err := strconv.Atoi(get("limit")); err == nil && n >= 1 && n <= 1000 {
		limit = n
	}
	lo, hi := 0, len(ids)
	if a := index(ids, get("after_id")); a >= 0 {
		lo = a + 1
	}
	backward := false
	if bi := index(ids, get("before_id")); bi >= 0 {
		hi, backward = bi, get("after_id") == ""
	}
	page := ids[min(lo, hi):hi]
	more := len(page) > limit
	switch {
	case more && backward:
		page = page[len(page)-limit:]
	case more:
		page = page[:limit]
	}
	b = append(b, `{"data":[`...)
	for i, id := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAnthropicModel(b, id)
	}
	b = append(b, `],"has_more":`...)
	b = strconv.AppendBool(b, more)
	b = append(b, `,"first_id":`...)
	if len(page) == 0 {
		b = append(b, `null,"last_id":null}`...)
		return b
	}
	b = appendString(b, page[0])
	b = append(b, `,"last_id":`...)
	b = appendString(b, page[len(page)-1])
	return append(b, '}')
}

// appendAnthropicModel appends one model object.
func appendAnthropicModel(b []byte, id string) []byte {
	b = append(b, `{"type":"model","id":`...)
	b = appendString(b, id)
	b = append(b, `,"display_name":`...)
	b = appendString(b, displayName(id))
	b = append(b, `,"created_at":`...)
	b = appendString(b, createdAt(id))
	return append(b, '}')
}
