package relaytest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// This file holds what the three fakes (Provider for OpenAI,
// AnthropicProvider, GeminiProvider) share: the special model names, the
// protocol-neutral summary of a request (Conversation), the reply plan every
// fake derives from it, the signatures, and the event writer with its delays
// and cancellation accounting. Each fake parses its own wire format into a
// Conversation and writes the plan in its own wire format; none uses the
// gateway's codecs, so a fake can catch their bugs.

// Special model names. A request whose model starts with one of these
// behaves as described, on every fake and every endpoint but the models
// list; any other model is answered normally. A suffix keeps the behaviour,
// so "fake-error-429-a" and "fake-error-429-b" can name two channels'
// models (the longest name wins: "fake-reasoning-tools-x" is
// ModelReasoningTools). Authentication is checked first: a wrong key gets
// the protocol's authentication error whatever the model. The error models
// answer a streaming request with the same error and status, not with a
// stream, as the real providers do. The scenario models (ModelTools,
// ModelReasoning, ModelReasoningTools, ModelStreamError) steer chat
// requests (OpenAI chat completions, Anthropic messages, Gemini
// generateContent and streamGenerateContent); the OpenAI fake's legacy
// completions and embeddings answer them as any other model, and token
// counting endpoints count as usual.
const (
	// ModelNoUsage is answered normally but with no usage at all: no usage
	// field in a non-streaming reply, and no usage chunk (nor "usage":null)
	// in an OpenAI stream even with stream_options.include_usage, no usage
	// objects in Anthropic's message and events, no usageMetadata from
	// Gemini; so the gateway has to count tokens itself.
	ModelNoUsage = "fake-no-usage"

	// ModelHang never answers, streamed or not: no status, no header, no
	// byte. The handler returns when the client goes away (counted by
	// Cancelled), or drops the connection when the provider is closed. For
	// timeout tests.
	ModelHang = "fake-hang"

	// ModelHold, streamed, sends the headers and the first event (OpenAI's
	// role chunk, Anthropic's message_start, Gemini's first chunk) and then
	// holds the stream open until the client goes away (counted by
	// Cancelled), or drops the connection when the provider is closed. Not
	// streamed (embeddings included), it behaves as ModelHang. For
	// long-lived and many-open-streams tests.
	ModelHold = "fake-hold"

	// ModelCut, streamed, sends the events up to and including the first
	// content piece, then drops the connection without the protocol's end
	// ("data: [DONE]", message_stop, the finish reason). Not streamed, it
	// sends the status, the headers with the full Content-Length and half
	// the body, then drops the connection. It does so by panicking with
	// http.ErrAbortHandler, which net/http's server handles silently.
	ModelCut = "fake-cut"

	// ModelBadRequest is answered 400: OpenAI type "invalid_request_error"
	// with param "model" and code "invalid_value"; Anthropic
	// "invalid_request_error"; Gemini INVALID_ARGUMENT.
	ModelBadRequest = "fake-error-400"

	// ModelUnauthorized is answered 401 whatever the key: OpenAI type
	// "invalid_request_error" with code "invalid_api_key"; Anthropic
	// "authentication_error"; Gemini UNAUTHENTICATED.
	ModelUnauthorized = "fake-error-401"

	// ModelForbidden is answered 403: OpenAI type "invalid_request_error"
	// with code "unsupported_country_region_territory"; Anthropic
	// "permission_error"; Gemini PERMISSION_DENIED.
	ModelForbidden = "fake-error-403"

	// ModelNotFound is answered 404, as each provider answers a model it
	// does not serve: OpenAI type "invalid_request_error" with code
	// "model_not_found"; Anthropic "not_found_error"; Gemini NOT_FOUND.
	ModelNotFound = "fake-error-404"

	// ModelRateLimited is answered 429: OpenAI type "requests" with code
	// "rate_limit_exceeded", "Retry-After: 1" and OpenAI's x-ratelimit-*
	// headers; Anthropic "rate_limit_error" with "retry-after: 1" and the
	// anthropic-ratelimit-* headers; Gemini RESOURCE_EXHAUSTED with a
	// google.rpc.RetryInfo detail whose retryDelay is "1s" (Google sends no
	// Retry-After header).
	ModelRateLimited = "fake-error-429"

	// ModelServerError is answered 500: OpenAI type "server_error" with a
	// null code; Anthropic "api_error"; Gemini INTERNAL.
	ModelServerError = "fake-error-500"

	// ModelUnavailable is answered 503: OpenAI type "server_error" with a
	// null code, as OpenAI answers an overloaded model; Anthropic
	// "overloaded_error"; Gemini UNAVAILABLE.
	ModelUnavailable = "fake-error-503"

	// ModelOverloaded is answered 529 "overloaded_error" by the Anthropic
	// fake, as Anthropic answers when its API is overloaded; the OpenAI and
	// Gemini fakes, whose providers have no such status, answer it as
	// ModelUnavailable (503).
	ModelOverloaded = "fake-error-529"

	// ModelTools answers with tool calls, so a test can run a tool round
	// trip. When the last user turn holds no tool results, the answer is
	// two parallel calls, get_weather with the arguments
	// {"city":"Paris","unit":"celsius"} and get_time with
	// {"timezone":"Europe/Paris"}, in that order; each only when the
	// request declares a tool of that name, as a real model calls only
	// declared tools (with neither declared, the answer is the default
	// reply). The finish is OpenAI's "tool_calls" (the arguments streamed
	// in three fragments per call), Anthropic's "tool_use" (tool_use
	// blocks, streamed as input_json_delta fragments), Gemini's STOP with
	// functionCall parts (whole, in one chunk). When the last user turn
	// holds tool results, the answer is the text "Results: " followed by
	// the results' texts joined with "; ", in order. WithToolCall replaces
	// the two calls with calls of the test's choosing.
	ModelTools = "fake-tools"

	// ModelReasoning reasons before answering: the reasoning is
	// "Thinking about: " and the last user text, then comes the default
	// reply. OpenAI sends it as reasoning_content, as DeepSeek does (a
	// message field, stream deltas), with
	// completion_tokens_details.reasoning_tokens; Anthropic as a thinking
	// block signed with Signature, first in the content; Gemini as a part
	// {"text":...,"thought":true} signed with Signature, only when the
	// request sets thinkingConfig.includeThoughts, with thoughtsTokenCount
	// in usageMetadata whether or not the thought is sent. The reasoning's
	// words count as output tokens.
	ModelReasoning = "fake-reasoning"

	// ModelReasoningTools reasons as ModelReasoning, then answers as
	// ModelTools: reasoning on a tool-call turn, where gateways tend to
	// lose OpenAI's reasoning_content or the signatures.
	ModelReasoningTools = "fake-reasoning-tools"

	// ModelStreamError, streamed, sends the events up to and including the
	// first content piece, then the protocol's in-stream error, and ends the
	// response without the protocol's normal end: OpenAI a
	// data: {"error":{...,"type":"server_error",...}} event; Anthropic an
	// "event: error" with type "overloaded_error"; Gemini an
	// {"error":{"code":503,...,"status":"UNAVAILABLE"}} event (an element of
	// the array stream without alt=sse). Not streamed, it is answered as an
	// error: OpenAI 500, Anthropic 529, Gemini 503.
	ModelStreamError = "fake-stream-error"
)

// The tool calls ModelTools and ModelReasoningTools answer with, in order.
const (
	// WeatherTool is the name of the first tool call; its arguments are
	// WeatherArgs.
	WeatherTool = "get_weather"
	// WeatherArgs are the arguments of the WeatherTool call, as compact
	// JSON in this key order.
	WeatherArgs = `{"city":"Paris","unit":"celsius"}`
	// TimeTool is the name of the second tool call; its arguments are
	// TimeArgs.
	TimeTool = "get_time"
	// TimeArgs are the arguments of the TimeTool call.
	TimeArgs = `{"timezone":"Europe/Paris"}`
)

// behaviour is what a special model name asks for.
type behaviour int

const (
	normal behaviour = iota
	noUsage
	hang
	hold
	cut
	fail
	tools
	reasoning
	reasoningTools
	streamError
)

// behaviourOf returns what model asks for; most models are normal, and
// they are told apart with one prefix test.
func behaviourOf(model string) behaviour {
	switch {
	case !strings.HasPrefix(model, "fake-"):
		return normal
	case strings.HasPrefix(model, ModelNoUsage):
		return noUsage
	case strings.HasPrefix(model, ModelHang):
		return hang
	case strings.HasPrefix(model, ModelHold):
		return hold
	case strings.HasPrefix(model, ModelCut):
		return cut
	case strings.HasPrefix(model, ModelTools):
		return tools
	case strings.HasPrefix(model, ModelReasoningTools):
		return reasoningTools
	case strings.HasPrefix(model, ModelReasoning):
		return reasoning
	case strings.HasPrefix(model, ModelStreamError):
		return streamError
	case strings.HasPrefix(model, "fake-error-"):
		if statusOf(model) != 0 {
			return fail
		}
	}
	return normal
}

// statusOf returns the status a ModelXxx error name asks for, or 0.
func statusOf(model string) int {
	for _, m := range []struct {
		name   string
		status int
	}{
		{ModelBadRequest, http.StatusBadRequest},
		{ModelUnauthorized, http.StatusUnauthorized},
		{ModelForbidden, http.StatusForbidden},
		{ModelNotFound, http.StatusNotFound},
		{ModelRateLimited, http.StatusTooManyRequests},
		{ModelServerError, http.StatusInternalServerError},
		{ModelUnavailable, http.StatusServiceUnavailable},
		{ModelOverloaded, statusOverloaded},
	} {
		if strings.HasPrefix(model, m.name) {
			return m.status
		}
	}
	return 0
}

// statusOverloaded is Anthropic's status for an overloaded API.
const statusOverloaded = 529

// Conversation is the protocol-neutral summary a fake makes of a chat
// request (OpenAI chat completions, Anthropic messages and count_tokens,
// Gemini generateContent, streamGenerateContent and countTokens), from
// which it plans its reply. Tests can compare the Conversations that
// different fakes recorded (Request.Conversation) to check that a gateway
// carried the same conversation to each protocol.
type Conversation struct {
	// Model is the model the request names (for Gemini, from the path).
	Model string
	// Stream says whether the answer is streamed.
	Stream bool
	// System is the system prompt's text, its parts joined with a space:
	// OpenAI's system and developer messages, Anthropic's system, Gemini's
	// systemInstruction. "" when there is none.
	System string
	// Turns is the number of messages in the conversation, system messages
	// excluded: OpenAI messages (tool messages each count), Anthropic
	// messages, Gemini contents.
	Turns int
	// Said is the last user text: the text parts, joined with a space, of
	// the last user message that is not made only of tool results. "" when
	// there is none.
	Said string
	// Media is how many images, documents, audio and files the last user
	// turn carries: OpenAI image_url, input_audio and file parts of the
	// user messages after the last assistant message; Anthropic image and
	// document blocks of the last user message; Gemini inlineData and
	// fileData parts of the last user content.
	Media int
	// ToolResults are the texts of the tool results in the last user turn,
	// in order: OpenAI tool messages after the last assistant message;
	// Anthropic tool_result blocks (a string content, or its text blocks
	// joined with a space); Gemini functionResponse parts (the response's
	// only field when the response has exactly one field and it is a
	// string, as in {"result":"18C"}, else the response as compact JSON).
	ToolResults []string
	// Tools are the names of the tools the request declares, in order.
	Tools []string
	// MaxTokens is the output token limit the request sets (OpenAI
	// max_completion_tokens or max_tokens, Anthropic max_tokens, Gemini
	// generationConfig.maxOutputTokens); 0 when it sets none.
	MaxTokens int
	// Thoughts says whether a Gemini request asks for thought parts
	// (generationConfig.thinkingConfig.includeThoughts); always false for
	// the other protocols.
	Thoughts bool
	// PromptTokens is the prompt's token count, as every usage reports it:
	// the words (see Tokens) of the system prompt, of every message's text
	// and of every tool result in the conversation. Reasoning, tool call
	// arguments and media in the history are not counted.
	PromptTokens int64
}

// finish says why a reply ends.
type finish int

const (
	finishStop   finish = iota // the reply is complete
	finishLength               // the token limit cut it
	finishTools                // it calls tools
)

// toolCall is one tool call of a plan.
type toolCall struct {
	name, args string
}

// The tool calls the tools scenario makes, in order.
var scenarioCalls = []toolCall{{WeatherTool, WeatherArgs}, {TimeTool, TimeArgs}}

// plan is what a fake answers, decided by the shared scenario from a
// Conversation; each fake writes it in its own wire format. A plan has
// reasoning, then text, then tool calls, each possibly empty.
type plan struct {
	b         behaviour
	reasoning string
	text      string
	calls     []toolCall
	finish    finish

	prompt    int64 // prompt tokens, cached ones included
	cached    int64 // cached prompt tokens, at most prompt
	thinking  int64 // reasoning tokens
	output    int64 // reply and tool call tokens, reasoning excluded
	withUsage bool  // false for ModelNoUsage and WithoutUsage
}

// completion returns the plan's output tokens, reasoning included.
func (pl *plan) completion() int64 { return pl.thinking + pl.output }

// pieces returns the text cut into stream pieces (see WithChunks).
func (pl *plan) pieces(chunks int) []string { return split(pl.text, chunks) }

// defaultReply is the echo every fake answers by default: "Hello! You said:
// <said>" (at most echoRunes of it), "Hello!" when nothing was said, and
// " (+N media)" when the last user turn carries N media.
func defaultReply(said string, media int) string {
	text := "Hello!"
	if said != "" {
		text = "Hello! You said: " + truncateRunes(said, echoRunes)
	}
	if media > 0 {
		text += " (+" + strconv.Itoa(media) + " media)"
	}
	return text
}

// planFor decides the reply to conv for the behaviour its model asks for.
func (c *config) planFor(conv *Conversation, b behaviour) plan {
	pl := plan{b: b, prompt: conv.PromptTokens, withUsage: !c.noUsage && b != noUsage}
	pl.cached = min(c.cached, pl.prompt)
	if b == reasoning || b == reasoningTools {
		pl.reasoning = "Thinking about: " + truncateRunes(conv.Said, echoRunes)
	}
	switch {
	case (b == tools || b == reasoningTools) && len(conv.ToolResults) > 0:
		pl.text = "Results: " + strings.Join(conv.ToolResults, "; ")
	case b == tools || b == reasoningTools:
		for _, call := range c.toolCalls() {
			if contains(conv.Tools, call.name) {
				pl.calls = append(pl.calls, call)
			}
		}
		if len(pl.calls) > 0 {
			pl.finish = finishTools
		} else {
			pl.text = c.replyText(conv)
		}
	default:
		pl.text = c.replyText(conv)
	}
	if limit := conv.MaxTokens; limit > 0 {
		if Tokens(pl.reasoning) > limit {
			pl.reasoning = truncateTo(pl.reasoning, limit)
			pl.text, pl.calls, pl.finish = "", nil, finishLength
		} else if rest := limit - Tokens(pl.reasoning); Tokens(pl.text) > rest {
			pl.text, pl.calls, pl.finish = truncateTo(pl.text, rest), nil, finishLength
		}
	}
	pl.thinking = int64(Tokens(pl.reasoning))
	pl.output = int64(Tokens(pl.text))
	for _, call := range pl.calls {
		pl.output += int64(Tokens(call.name) + Tokens(call.args))
	}
	return pl
}

// replyText returns the text of a plain reply: the WithReply text, or the
// default echo.
func (c *config) replyText(conv *Conversation) string {
	if c.fixed {
		return c.reply
	}
	return defaultReply(conv.Said, conv.Media)
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// signKey is the key of every signature the fakes make.
var signKey = []byte("relaytest: fake reasoning signature key")

// Signature returns the signature the fakes put on a piece of reasoning
// whose text is text: the standard base64 (with padding) of the
// HMAC-SHA256 of text under a fixed key, 44 characters. The Anthropic fake
// signs each thinking block with Signature(thinking) and refuses, 400
// invalid_request_error, a request whose history holds a thinking block
// whose signature is not Signature(thinking); the Gemini fake signs each
// thought part with Signature(text) and refuses, 400 INVALID_ARGUMENT, a
// history thought part whose thoughtSignature is set and wrong.
func Signature(text string) string {
	m := hmac.New(sha256.New, signKey)
	m.Write([]byte(text))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// CallSignature returns the thoughtSignature the Gemini fake puts on the
// first functionCall part of each answer: Signature of "functionCall ",
// the function's name, a space, and args in a canonical form (decoded and
// re-encoded by encoding/json, so key order and spacing do not matter; args
// that are not valid JSON are taken as they are). The Gemini fake refuses,
// 400 INVALID_ARGUMENT, a request whose history holds a model turn whose
// first functionCall part has no thoughtSignature or a wrong one.
func CallSignature(name string, args []byte) string {
	return Signature("functionCall " + name + " " + canonicalJSON(args))
}

// canonicalJSON returns b decoded and re-encoded by encoding/json (object
// keys sorted, no spaces), or b as it is when it is not valid JSON.
func canonicalJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return string(b)
	}
	return string(out)
}

// fragments cuts s into n pieces of about the same number of runes
// (fewer when s has fewer runes), which join to s.
func fragments(s string, n int) []string {
	runes := 0
	for range s {
		runes++
	}
	if runes < n {
		n = max(runes, 1)
	}
	out := make([]string, 0, n)
	start, seen, j := 0, 0, 1
	for i := range s {
		if j < n && seen == j*runes/n {
			out = append(out, s[start:i])
			start = i
			j++
		}
		seen++
	}
	return append(out, s[start:])
}

// truncateTo returns text cut after its first n words; "" when n <= 0.
func truncateTo(text string, n int) string {
	if n <= 0 {
		return ""
	}
	return truncateWords(text, n)
}

// joinText appends s to the space-joined text t.
func joinText(t, s string) string {
	switch {
	case s == "":
		return t
	case t == "":
		return s
	}
	return t + " " + s
}

// ident returns prefix followed by width characters of base 62 derived
// from n: distinct n give distinct identifiers (for width >= 11), and the
// same n always gives the same one.
func ident(prefix string, n uint64, width int) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, len(prefix)+width)
	copy(b, prefix)
	x := mix(n)
	for i := len(b) - 1; i >= len(prefix); i-- {
		if x == 0 {
			x = mix(n ^ uint64(i)<<56)
		}
		b[i] = digits[x%62]
		x /= 62
	}
	return string(b)
}

// mix is the splitmix64 finaliser, a bijection of uint64.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// displayName makes a model's display name from its id, as the providers
// name their models: "claude-sonnet-4-5-20250929" is "Claude Sonnet 4.5",
// "gemini-2.5-flash" is "Gemini 2.5 Flash". A trailing date is dropped,
// numbers next to each other are joined with a dot, words are capitalised.
func displayName(id string) string {
	words := strings.Split(id, "-")
	if n := len(words); n > 1 && isDate(words[n-1]) {
		words = words[:n-1]
	}
	var b strings.Builder
	prevNum := false
	for _, w := range words {
		if w == "" {
			continue
		}
		num := w[0] >= '0' && w[0] <= '9'
		switch {
		case b.Len() == 0:
		case num && prevNum:
			b.WriteByte('.')
		default:
			b.WriteByte(' ')
		}
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
		prevNum = num
	}
	return b.String()
}

// createdAt is the creation time a listed model reports: the date that
// ends its id, as in "claude-sonnet-4-5-20250929", or 2025-01-01.
func createdAt(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 && isDate(id[i+1:]) {
		d := id[i+1:]
		return d[:4] + "-" + d[4:6] + "-" + d[6:] + "T00:00:00Z"
	}
	return "2025-01-01T00:00:00Z"
}

// isDate reports whether s is a date as yyyymmdd.
func isDate(s string) bool {
	_, err := time.Parse("20060102", s)
	return len(s) == 8 && err == nil
}

// eventWriter writes the events of one stream, each after the configured
// delay, flushing each, and counts a cancellation when the client goes
// away.
type eventWriter struct {
	f     *fake
	w     http.ResponseWriter
	rc    *http.ResponseController
	ctx   context.Context
	timer *time.Timer
}

// newEventWriter returns the writer of the stream answering r.
func (f *fake) newEventWriter(w http.ResponseWriter, r *http.Request) eventWriter {
	ew := eventWriter{f: f, w: w, rc: http.NewResponseController(w), ctx: r.Context()}
	if f.delay > 0 {
		ew.timer = time.NewTimer(f.delay)
		ew.timer.Stop()
	}
	return ew
}

// write sends one event after the configured delay and flushes it. It
// returns false, counting a cancellation, when the client is gone.
func (s *eventWriter) write(event []byte) bool {
	if s.timer != nil && !s.f.sleep(s.ctx, s.timer) {
		return false
	}
	if s.ctx.Err() != nil {
		s.f.cancelled.Add(1)
		return false
	}
	if _, err := s.w.Write(event); err != nil {
		s.f.cancelled.Add(1)
		return false
	}
	if err := s.rc.Flush(); err != nil {
		s.f.cancelled.Add(1)
		return false
	}
	return true
}

// writeHalf writes the status, the headers (which must already hold the
// full Content-Length) and half of body, then drops the connection, for
// ModelCut.
func writeHalf(w http.ResponseWriter, body []byte) {
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body[:len(body)/2])
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}
