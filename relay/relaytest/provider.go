// Package relaytest provides fake providers for the relay's tests, the
// end-to-end tests and the load tool, and in-memory fakes of the relay's own
// dependencies (Memory).
//
// There is one fake per protocol, each speaking its provider's wire format
// closely enough for the provider's official Go SDK to parse it, errors and
// streams included: Provider for OpenAI (and every OpenAI-compatible
// server), AnthropicProvider for api.anthropic.com, GeminiProvider for
// generativelanguage.googleapis.com. None of them uses the gateway's own
// codecs: each parses and writes its format on its own, so that a test
// through the gateway can catch a codec's bug. Tests steer a fake per
// request through special model names (ModelHang, ModelTools, ...; the same
// names mean the same scenario on every fake, so one test suite can run
// against all three channel types), so one provider can serve many
// channels, and per provider through Options (the same Options for all
// three). Every fake records what it receives (Requests), with a
// protocol-neutral summary of each chat request (Conversation), and counts
// the requests it is serving (Active) and the ones their clients gave up
// (Cancelled).
//
// Replies are deterministic. A chat reply echoes the last user message
// ("Hello! You said: hi", at most 256 runes of it; "Hello!" when there is
// none), followed by " (+N media)" when the last user turn carries N
// images, documents or audio; a completions reply the first prompt;
// WithReply fixes the reply instead. The model field echoes the request's
// model, so a test sees the model a gateway mapped to. Token counts are
// words as counted by Tokens: the prompt is the words of the system prompt
// and of every message (or prompt, or input), the completion the words of
// the reply and of the reasoning. A token limit (OpenAI
// max_completion_tokens or max_tokens, Anthropic max_tokens, Gemini
// maxOutputTokens) cuts the reply to that many words, with the protocol's
// finish reason for it ("length", "max_tokens", MAX_TOKENS).
//
// The OpenAI fake: chat completions (plain and streamed as server-sent
// events), legacy completions, embeddings (float and base64) and the models
// list, with OpenAI's error objects. Only one choice is ever sent, whatever
// n says. A stream has OpenAI's shape: for chat, a first chunk whose delta
// is {"role":"assistant","content":"","refusal":null}, then one chunk per
// content piece (a word by default, see WithChunks), then a finish chunk
// whose delta is {} and finish_reason "stop"; legacy completions have no
// role chunk and a finish chunk with text "". When the request sets
// stream_options.include_usage, a last chunk has "choices":[] and the usage,
// and every other chunk has "usage":null; otherwise no chunk has a usage
// field. "data: [DONE]" ends the stream. Streams are sent with
// Content-Type "text/event-stream; charset=utf-8" and flushed per event.
// Every answer, errors included, has an x-request-id header ("req_" and 32
// hex digits). As OpenAI does, it refuses (400) an assistant message with
// tool_calls that is not followed by a tool message for each call, and a
// tool message that answers no call.
//
// Answering a plain chat request costs the OpenAI fake no reflection on the
// write path, no logging and few allocations, so a load test can run it at
// thousands of requests a second (WithoutRecording keeps its memory flat).
// The scenario models (ModelTools, ModelReasoning, ...) take a slower,
// general path.
package relaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// EarlyModel is the model field of the chunks a provider sends when it
// answers before reading the request body (see WithEarlyAnswer): the
// request's model is unknown when the first chunk goes out.
const EarlyModel = "fake-early"

// EarlyMode says whether a provider answers a chat completion before it
// reads the request body; see WithEarlyAnswer.
type EarlyMode int

// Early modes.
const (
	// EarlyOff reads the whole body first, as a real provider does. It is
	// the zero value.
	EarlyOff EarlyMode = iota

	// EarlyDrain sends the headers and the first chunk, then reads the
	// whole body (it is recorded and its messages are echoed), then sends
	// the rest of the stream.
	EarlyDrain

	// EarlyIgnore sends the whole stream and returns without ever reading
	// the body; Request.Body stays nil. net/http then discards up to 256 KiB
	// of the body or closes the connection.
	EarlyIgnore
)

// DefaultModels is what the OpenAI fake's GET /v1/models lists unless
// WithModels says otherwise.
var DefaultModels = []string{"gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo-instruct", "text-embedding-3-small"}

// echoRunes bounds how much of the user's message a reply echoes, so a huge
// prompt does not make a huge reply.
const echoRunes = 256

// Option configures a fake provider: Provider, AnthropicProvider or
// GeminiProvider. Every option applies to the three, but WithEarlyAnswer,
// which only the OpenAI fake honours.
type Option func(*config)

// config is what Options set.
type config struct {
	key       string
	reply     string
	fixed     bool
	chunks    int
	delay     time.Duration
	noUsage   bool
	cached    int64
	modelIDs  []string
	modelsSet bool
	early     EarlyMode
	noRecord  bool
	calls     []toolCall // WithToolCall's calls; nil means scenarioCalls
}

// WithKey makes the provider require key on every request: OpenAI's
// "Authorization: Bearer key" (a missing header is answered 401 with a null
// code, a wrong key 401 with code "invalid_api_key", both of type
// "invalid_request_error"); Anthropic's "x-api-key: key" or
// "Authorization: Bearer key" (401 authentication_error); Gemini's "x-goog-api-key: key" or "?key=key" (a missing key
// 403 PERMISSION_DENIED, a wrong one 400 INVALID_ARGUMENT "API key not
// valid. Please pass a valid API key.", as Google answers). Without this
// option, or with "", any or no key is accepted.
func WithKey(key string) Option {
	return func(c *config) { c.key = key }
}

// WithReply makes every plain reply the given text instead of the echo of
// the request; the scenario models still reason and call tools, and
// ModelTools still answers tool results with "Results: ...". WithReply("")
// makes empty replies: for OpenAI a stream of only the first chunk and the
// finish chunk.
func WithReply(text string) Option {
	return func(c *config) { c.reply, c.fixed = text, true }
}

// WithChunks makes every stream carry exactly n content pieces (OpenAI
// content chunks, Anthropic text_delta events, Gemini text chunks): the
// reply's words grouped evenly, or its runes when it has fewer words than
// n, padded with empty pieces when it has fewer runes. With n <= 0, the
// default, each word is a piece, carrying the whitespace before it.
// Reasoning is always streamed a word at a time.
func WithChunks(n int) Option {
	return func(c *config) { c.chunks = n }
}

// WithChunkDelay makes the provider wait d before each event of a stream,
// the first one and the end ("data: [DONE]", message_stop) included, so the
// first byte arrives after d and a stream of k events lasts k·d; and wait d
// before a non-streaming answer. A client that goes away during a wait ends
// the request at once (counted by Cancelled). Zero, the default, means no
// wait.
func WithChunkDelay(d time.Duration) Option {
	return func(c *config) { c.delay = d }
}

// WithoutUsage makes every reply behave as ModelNoUsage: no usage anywhere.
func WithoutUsage() Option {
	return func(c *config) { c.noUsage = true }
}

// WithCachedTokens makes every usage report n of its prompt tokens (at most
// all of them) as read from a cache, as each protocol reports it: OpenAI
// prompt_tokens_details.cached_tokens (prompt_tokens includes them);
// Anthropic cache_read_input_tokens (input_tokens excludes them, as
// Anthropic counts); Gemini cachedContentTokenCount (promptTokenCount
// includes them). The default is 0.
func WithCachedTokens(n int) Option {
	return func(c *config) { c.cached = int64(n) }
}

// WithModels sets the ids the models list shows, in order, instead of the
// fake's default (DefaultModels, DefaultAnthropicModels,
// DefaultGeminiModels). It does not restrict which models the provider
// answers, but the Anthropic and Gemini fakes answer a GET of one model
// that is not listed with 404.
func WithModels(ids ...string) Option {
	return func(c *config) { c.modelIDs, c.modelsSet = ids, true }
}

// WithEarlyAnswer makes the OpenAI fake answer POST /v1/chat/completions
// before it reads the request body, for tests of a gateway still sending a
// large body when the answer arrives. It enables full duplex on the
// response (http.ResponseController.EnableFullDuplex), so net/http neither
// consumes the body before the first write nor closes it. The answer is
// always a stream whose chunks name EarlyModel, whatever the body says, and
// special model names have no effect; with EarlyDrain the reply echoes the
// body and the usage chunk is sent when the body asks for it, with
// EarlyIgnore the reply is the WithReply text or "Hello!" and has no usage.
// The key is still checked first (WithKey). The other endpoints, and the
// Anthropic and Gemini fakes, are not affected. The default is EarlyOff.
func WithEarlyAnswer(m EarlyMode) Option {
	return func(c *config) { c.early = m }
}

// WithoutRecording stops the provider keeping a Request for each request,
// so that a load test's memory stays flat; Requests then returns nil.
func WithoutRecording() Option {
	return func(c *config) { c.noRecord = true }
}

// Request is one request a provider received, kept in arrival order unless
// recording is off (WithoutRecording). Its fields must not be modified.
type Request struct {
	Method string
	Path   string
	// Query holds the URL's query parameters (Gemini's alt and key among
	// them); nil when there are none.
	Query url.Values
	// Header holds the request's headers, Authorization included.
	Header http.Header
	// Body is the raw body; nil when it was never read (EarlyIgnore) or
	// was empty.
	Body []byte
	// JSON is Body decoded, with numbers as float64; nil when Body is not a
	// JSON object.
	JSON map[string]any
	// Conversation is the fake's summary of a chat request it could parse
	// (OpenAI chat completions, Anthropic messages and count_tokens, Gemini
	// generateContent, streamGenerateContent and countTokens), whether it
	// was answered or refused afterwards; nil for every other request.
	Conversation *Conversation
}

// fake holds what every fake provider shares: its configuration, its ids,
// its request counters and its record.
type fake struct {
	config

	seed      uint64
	counter   atomic.Uint64
	active    atomic.Int64
	cancelled atomic.Int64

	stop     chan struct{}
	stopOnce sync.Once

	mu   sync.Mutex
	reqs []Request
}

// init applies opts, with defaultModels as the models list unless
// WithModels says otherwise.
func (f *fake) init(opts []Option, defaultModels []string) {
	f.stop = make(chan struct{})
	for _, opt := range opts {
		opt(&f.config)
	}
	if !f.modelsSet {
		f.modelIDs = defaultModels
	}
}

// Close releases every request the provider is holding, so that a server
// can shut down: hanging and held requests (ModelHang, ModelHold) drop their
// connection at once, without being counted by Cancelled, and delays
// (WithChunkDelay) are skipped. Later requests are served as before, except
// that they too hang or hold no more and wait no delay. Close is idempotent.
func (f *fake) Close() {
	f.stopOnce.Do(func() { close(f.stop) })
}

// Requests returns a copy of the list of requests received so far, oldest
// first, unauthorized and malformed ones included; nil when there are none
// or recording is off.
func (f *fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reqs == nil {
		return nil
	}
	return append([]Request(nil), f.reqs...)
}

// Active returns how many requests the provider is serving right now. A
// request counts from the moment ServeHTTP is entered until it returns, so a
// stream counts until its last event is written or it is given up.
func (f *fake) Active() int { return int(f.active.Load()) }

// Cancelled returns how many requests were given up because their client
// went away before the provider finished answering: a stream before its
// end was written, a hanging or held request, a request during a delay or
// while its body was being read. It is updated before Active drops, so once
// Active reports 0 it is final.
func (f *fake) Cancelled() int64 { return f.cancelled.Load() }

// WaitActive waits until Active returns n, and fails tb if it does not
// within ten seconds. Call it from the test's goroutine.
func (f *fake) WaitActive(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.Active() != n {
		if time.Now().After(deadline) {
			tb.Fatalf("relaytest: %d requests active after 10s, want %d", f.Active(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Provider is a fake OpenAI-compatible upstream. It implements http.Handler
// for the endpoints POST /v1/chat/completions, POST /v1/completions,
// POST /v1/embeddings and GET /v1/models; any other method or path is
// answered 404 "Invalid URL (METHOD /path)" as OpenAI does. A Provider is
// safe for concurrent use; its zero value is not, use NewProvider.
type Provider struct {
	fake

	fixedReply *reply // the split of reply when fixed
	models     []byte // GET /v1/models body
}

// NewProvider returns an OpenAI fake configured by opts. It listens
// nowhere: serve it with Start, httptest.NewServer or any http.Server.
func NewProvider(opts ...Option) *Provider {
	p := &Provider{}
	p.seed = rand.Uint64()
	p.init(opts, DefaultModels)
	if p.fixed {
		p.fixedReply = newReply(p.reply, p.chunks, "stop")
	}
	p.models = appendModels(nil, p.modelIDs)
	return p
}

// Start serves a new OpenAI fake on an httptest.Server and closes both when
// tb finishes. The base URL of a channel pointing at it is srv.URL + "/v1".
func Start(tb testing.TB, opts ...Option) (*Provider, *httptest.Server) {
	tb.Helper()
	p := NewProvider(opts...)
	return p, serve(tb, p)
}

// serve serves a fake on an httptest.Server and closes both when tb
// finishes.
func serve(tb testing.TB, p interface {
	http.Handler
	Close()
}) *httptest.Server {
	srv := httptest.NewServer(p)
	tb.Cleanup(func() {
		p.Close()
		srv.Close()
	})
	return srv
}

// endpoint is a route the provider serves.
type endpoint int

const (
	epNone endpoint = iota
	epChat
	epCompletions
	epEmbeddings
	epModels
)

func route(r *http.Request) endpoint {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions":
		return epChat
	case r.Method == http.MethodPost && r.URL.Path == "/v1/completions":
		return epCompletions
	case r.Method == http.MethodPost && r.URL.Path == "/v1/embeddings":
		return epEmbeddings
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		return epModels
	}
	return epNone
}

// ServeHTTP answers one request; see Provider and the Model constants.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.active.Add(1)
	defer p.active.Add(-1)

	ep := route(r)
	if ep == epChat && p.early != EarlyOff {
		p.serveEarly(w, r)
		return
	}

	in := bodyPool.Get().(*bytes.Buffer)
	defer putBody(in)
	body, err := readBody(r, in)
	if err != nil {
		p.cancelled.Add(1)
		return
	}
	n := p.record(r, body)

	id := p.newID()
	if ep == epNone {
		p.writeError(w, id, apiError{status: http.StatusNotFound, message: "Invalid URL (" + r.Method + " " + r.URL.Path + ")", typ: "invalid_request_error"})
		return
	}
	if e, ok := p.authorize(r); !ok {
		p.writeError(w, id, e)
		return
	}
	if ep == epModels {
		p.writeJSON(w, id, p.models)
		return
	}

	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		p.writeError(w, id, errParse)
		return
	}
	if req.Model == "" {
		p.writeError(w, id, errNoModel)
		return
	}
	var conv Conversation
	if ep == epChat && len(req.Messages) > 0 {
		conv = chatSummary(&req)
		p.setConversation(n, &conv)
	}
	b := behaviourOf(req.Model)
	if b == fail {
		p.writeError(w, id, modelError(req.Model, id))
		return
	}
	if b == hang || (b == hold && (!req.Stream || ep == epEmbeddings)) {
		p.hold(r.Context())
		return
	}

	switch ep {
	case epChat:
		p.serveChat(w, r, id, &req, b, &conv)
	case epCompletions:
		p.serveCompletions(w, r, id, &req, b)
	case epEmbeddings:
		p.serveEmbeddings(w, r, id, &req, b)
	}
}

// serveChat answers a chat completion summarised by conv.
func (p *Provider) serveChat(w http.ResponseWriter, r *http.Request, id string, req *request, b behaviour, conv *Conversation) {
	if req.Messages == nil {
		p.writeError(w, id, errMissing("messages"))
		return
	}
	if len(req.Messages) == 0 {
		p.writeError(w, id, apiError{status: http.StatusBadRequest, message: "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", typ: "invalid_request_error", param: "messages", code: "empty_array"})
		return
	}
	if e, ok := checkToolMessages(req.Messages); !ok {
		p.writeError(w, id, e)
		return
	}
	switch b {
	case tools, reasoning, reasoningTools, streamError:
		p.servePlan(w, r, id, req, b, conv)
		return
	}
	p.serveReply(w, r, id, req, b, &chatStream, conv.Said, conv.Media, conv.PromptTokens)
}

func (p *Provider) serveCompletions(w http.ResponseWriter, r *http.Request, id string, req *request, b behaviour) {
	var said string
	var prompt int64
	for i, in := range req.Prompt {
		prompt += in.count()
		if i == 0 {
			said = in.text
		}
	}
	p.serveReply(w, r, id, req, b, &textStream, said, 0, prompt)
}

// serveReply answers a plain chat or completions request, streamed or not.
func (p *Provider) serveReply(w http.ResponseWriter, r *http.Request, id string, req *request, b behaviour, kind *streamKind, said string, media int, prompt int64) {
	rep := p.replyFor(said, media, req.maxTokens())
	u := p.usage(prompt, rep.tokens, b)
	objID := kind.idPrefix + id
	created := time.Now().Unix()
	if req.Stream {
		if !req.StreamOptions.IncludeUsage {
			u = nil
		}
		s := p.newStream(w, r, id, kind, objID, created, req.Model, u != nil)
		defer s.release()
		p.stream(s, rep, u, b, true)
		return
	}
	out := outPool.Get().(*[]byte)
	defer outPool.Put(out)
	*out = kind.whole((*out)[:0], objID, created, req.Model, rep, u)
	p.answer(w, r, id, *out, b)
}

// servePlan answers a chat completion for a scenario model (ModelTools,
// ModelReasoning, ModelReasoningTools, ModelStreamError).
func (p *Provider) servePlan(w http.ResponseWriter, r *http.Request, id string, req *request, b behaviour, conv *Conversation) {
	if b == streamError && !req.Stream {
		p.writeError(w, id, errServer)
		return
	}
	pl := p.planFor(conv, b)
	var u *usage
	if pl.withUsage {
		u = &usage{prompt: pl.prompt, completion: pl.completion(), cached: pl.cached, reasoning: pl.thinking}
	}
	callIDs := make([]string, len(pl.calls))
	for i := range callIDs {
		callIDs[i] = p.ident("call_", 24)
	}
	objID := chatStream.idPrefix + id
	created := time.Now().Unix()
	if !req.Stream {
		body := appendChatPlan(nil, objID, created, req.Model, &pl, callIDs, u)
		p.answer(w, r, id, body, b)
		return
	}
	if !req.StreamOptions.IncludeUsage {
		u = nil
	}
	s := p.newStream(w, r, id, &chatStream, objID, created, req.Model, u != nil)
	defer s.release()
	if !s.send(chatRoleChoice) {
		return
	}
	for _, piece := range split(pl.reasoning, 0) {
		if !s.send(appendReasoningChoice(nil, piece)) {
			return
		}
	}
	for _, piece := range pl.pieces(p.chunks) {
		if !s.sendContent(piece) {
			return
		}
		if b == streamError {
			break
		}
	}
	if b == streamError {
		s.write(append(append([]byte("data: "), appendError(nil, errServer)...), "\n\n"...))
		return
	}
	for i, call := range pl.calls {
		if !s.send(appendToolCallChoice(nil, i, callIDs[i], call.name, "")) {
			return
		}
		for _, frag := range fragments(call.args, 3) {
			if !s.send(appendToolCallChoice(nil, i, "", "", frag)) {
				return
			}
		}
	}
	if !s.send(appendFinishChoice(nil, openAIFinish[pl.finish])) {
		return
	}
	if u != nil && !s.sendUsage(*u) {
		return
	}
	s.write(eventDone)
}

// openAIFinish names each finish as OpenAI does.
var openAIFinish = [...]string{finishStop: "stop", finishLength: "length", finishTools: "tool_calls"}

func (p *Provider) serveEmbeddings(w http.ResponseWriter, r *http.Request, id string, req *request, b behaviour) {
	if len(req.Input) == 0 {
		p.writeError(w, id, errMissing("input"))
		return
	}
	var b64 bool
	switch req.EncodingFormat {
	case "", "float":
	case "base64":
		b64 = true
	default:
		p.writeError(w, id, apiError{status: http.StatusBadRequest, message: "Invalid value: '" + req.EncodingFormat + "'. Supported values are: 'float' and 'base64'.", typ: "invalid_request_error", param: "encoding_format", code: "invalid_value"})
		return
	}
	dims := embeddingDims
	if req.Dimensions > maxEmbeddingDims {
		p.writeError(w, id, apiError{status: http.StatusBadRequest, message: "Invalid value for 'dimensions': must be at most " + strconv.Itoa(maxEmbeddingDims) + ".", typ: "invalid_request_error", param: "dimensions", code: "invalid_value"})
		return
	} else if req.Dimensions > 0 {
		dims = req.Dimensions
	}
	var prompt int64
	for _, in := range req.Input {
		prompt += in.count()
	}
	u := p.usage(prompt, 0, b)
	out := outPool.Get().(*[]byte)
	defer outPool.Put(out)
	*out = appendEmbeddings((*out)[:0], req.Model, req.Input, dims, b64, u)
	p.answer(w, r, id, *out, b)
}

// chatSummary summarises a chat completion request. The last user turn is
// every message after the last assistant message; the last user text the
// content of the last user message, as tool results come in tool messages.
func chatSummary(req *request) Conversation {
	conv := Conversation{Model: req.Model, Stream: req.Stream, MaxTokens: req.maxTokens()}
	last := -1
	for i := range req.Messages {
		if req.Messages[i].Role == "assistant" {
			last = i
		}
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		conv.PromptTokens += int64(Tokens(m.Content.text))
		switch m.Role {
		case "system", "developer":
			conv.System = joinText(conv.System, m.Content.text)
			continue
		case "user":
			conv.Said = m.Content.text
			if i > last {
				conv.Media += m.Content.media
			}
		case "tool":
			if i > last {
				conv.ToolResults = append(conv.ToolResults, m.Content.text)
			}
		}
		conv.Turns++
	}
	if len(req.Tools) > 0 {
		conv.Tools = make([]string, len(req.Tools))
		for i, t := range req.Tools {
			conv.Tools[i] = t.Function.Name
		}
	}
	return conv
}

// checkToolMessages refuses, as OpenAI does, an assistant message with
// tool_calls not followed by a tool message for each call, and a tool
// message that answers no call of the assistant message before it.
func checkToolMessages(msgs []message) (apiError, bool) {
	var pending []string
	at := -1 // the assistant message whose calls are being answered
	for i := range msgs {
		m := &msgs[i]
		if m.Role == "tool" {
			if at < 0 {
				return apiError{status: http.StatusBadRequest, message: "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", typ: "invalid_request_error", param: "messages.[" + strconv.Itoa(i) + "].role"}, false
			}
			j := index(pending, m.ToolCallID)
			if j < 0 {
				return apiError{status: http.StatusBadRequest, message: "Invalid parameter: 'tool_call_id' of '" + m.ToolCallID + "' not found in 'tool_calls' of previous message.", typ: "invalid_request_error", param: "messages.[" + strconv.Itoa(i) + "].tool_call_id"}, false
			}
			pending = append(pending[:j], pending[j+1:]...)
			continue
		}
		if len(pending) > 0 {
			break
		}
		at = -1
		if m.Role == "assistant" && len(m.ToolCalls) > 0 {
			for _, c := range m.ToolCalls {
				pending = append(pending, c.ID)
			}
			at = i
		}
	}
	if len(pending) > 0 {
		return apiError{status: http.StatusBadRequest, message: "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: " + strings.Join(pending, ", "), typ: "invalid_request_error", param: "messages.[" + strconv.Itoa(at) + "].role"}, false
	}
	return apiError{}, true
}

// index returns the position of s in list, or -1.
func index(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// serveEarly answers a chat completion before reading its body; see
// WithEarlyAnswer.
func (p *Provider) serveEarly(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex() // HTTP/2 is always full duplex and says so with an error
	if p.early == EarlyIgnore {
		// A server that will not read the body cannot reuse the connection:
		// it says so, and closes the body before returning. Otherwise
		// net/http breaks the connection's next request (a body under
		// 256 KiB left unread trips "invalid concurrent Body.Read call",
		// golang/go#68560; a larger one closes the connection unannounced).
		w.Header().Set("Connection", "close")
		defer r.Body.Close()
	}
	n := p.record(r, nil)
	id := p.newID()
	if e, ok := p.authorize(r); !ok {
		p.writeError(w, id, e)
		return
	}
	s := p.newStream(w, r, id, &chatStream, chatStream.idPrefix+id, time.Now().Unix(), EarlyModel, false)
	defer s.release()
	if !s.send(s.kind.role) {
		return
	}

	rep := p.replyFor("", 0, 0)
	var u *usage
	if p.early == EarlyDrain {
		in := bodyPool.Get().(*bytes.Buffer)
		defer putBody(in)
		body, err := readBody(r, in)
		if err != nil {
			p.cancelled.Add(1)
			return
		}
		p.setBody(n, body)
		var req request
		if json.Unmarshal(body, &req) == nil {
			conv := chatSummary(&req)
			p.setConversation(n, &conv)
			rep = p.replyFor(conv.Said, conv.Media, req.maxTokens())
			if req.StreamOptions.IncludeUsage {
				u = p.usage(conv.PromptTokens, rep.tokens, normal)
			}
		}
	}
	p.stream(s, rep, u, normal, false)
}

// modelError returns the error a ModelXxx error name asks for, worded as
// OpenAI words it; ModelOverloaded is answered as ModelUnavailable.
func modelError(model, id string) apiError {
	switch statusOf(model) {
	case http.StatusBadRequest:
		return apiError{status: http.StatusBadRequest, message: "Invalid value for 'model': '" + model + "' rejects every request.", typ: "invalid_request_error", param: "model", code: "invalid_value"}
	case http.StatusUnauthorized:
		return apiError{status: http.StatusUnauthorized, message: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", typ: "invalid_request_error", code: "invalid_api_key"}
	case http.StatusForbidden:
		return apiError{status: http.StatusForbidden, message: "Country, region, or territory not supported", typ: "request_forbidden", code: "unsupported_country_region_territory"}
	case http.StatusNotFound:
		return apiError{status: http.StatusNotFound, message: "The model `" + model + "` does not exist or you do not have access to it.", typ: "invalid_request_error", code: "model_not_found"}
	case http.StatusTooManyRequests:
		return apiError{status: http.StatusTooManyRequests, message: "Rate limit reached for " + model + " in organization org-relaytest on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more.", typ: "requests", code: "rate_limit_exceeded"}
	case http.StatusServiceUnavailable, statusOverloaded:
		return apiError{status: http.StatusServiceUnavailable, message: "That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists. (Please include the request ID req_" + id + " in your message.)", typ: "server_error"}
	}
	return errServer
}

// Errors OpenAI answers to malformed requests.
var (
	errParse   = apiError{status: http.StatusBadRequest, message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)", typ: "invalid_request_error"}
	errServer  = apiError{status: http.StatusInternalServerError, message: "The server had an error while processing your request. Sorry about that!", typ: "server_error"}
	errNoModel = apiError{status: http.StatusBadRequest, message: "you must provide a model parameter", typ: "invalid_request_error"}
	errNoKey   = apiError{status: http.StatusUnauthorized, message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.", typ: "invalid_request_error"}
)

func errMissing(param string) apiError {
	return apiError{status: http.StatusBadRequest, message: "Missing required parameter: '" + param + "'.", typ: "invalid_request_error", param: param, code: "missing_required_parameter"}
}

// authorize checks the bearer key when one is configured.
func (p *Provider) authorize(r *http.Request) (apiError, bool) {
	if p.key == "" {
		return apiError{}, true
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return errNoKey, false
	}
	key, ok := strings.CutPrefix(h, "Bearer ")
	if ok && key == p.key {
		return apiError{}, true
	}
	return apiError{status: http.StatusUnauthorized, message: "Incorrect API key provided: " + mask(key) + ". You can find your API key at https://platform.openai.com/account/api-keys.", typ: "invalid_request_error", code: "invalid_api_key"}, false
}

// mask hides all of a key but its ends, as OpenAI's error messages do.
func mask(key string) string {
	if len(key) <= 8 {
		return strings.Repeat("*", len(key))
	}
	return key[:3] + strings.Repeat("*", len(key)-7) + key[len(key)-4:]
}

// reply is a chat or completions answer cut into stream pieces.
type reply struct {
	text   string
	pieces []string
	tokens int64
	finish string // "stop" or "length"
}

func newReply(text string, chunks int, finish string) *reply {
	return &reply{text: text, pieces: split(text, chunks), tokens: int64(Tokens(text)), finish: finish}
}

// replyFor returns the reply to a request whose user said said, with media
// in the last user turn, cut to limit words when limit > 0.
func (p *Provider) replyFor(said string, media, limit int) *reply {
	text := p.reply
	if p.fixed {
		if limit <= 0 || p.fixedReply.tokens <= int64(limit) {
			return p.fixedReply
		}
	} else {
		text = defaultReply(said, media)
	}
	if limit > 0 && Tokens(text) > limit {
		return newReply(truncateWords(text, limit), p.chunks, "length")
	}
	return newReply(text, p.chunks, "stop")
}

// usage returns the usage to report, or nil when none is to be sent.
func (p *Provider) usage(prompt, completion int64, b behaviour) *usage {
	if p.noUsage || b == noUsage {
		return nil
	}
	return &usage{prompt: prompt, completion: completion, cached: min(p.cached, prompt)}
}

// newID returns a fresh 32-hex-digit id: the seed's digits, then the
// counter's.
func (f *fake) newID() string {
	const hex = "0123456789abcdef"
	var b [32]byte
	x, y := f.seed, f.counter.Add(1)
	for i := 15; i >= 0; i-- {
		b[i], b[16+i] = hex[x&0xf], hex[y&0xf]
		x, y = x>>4, y>>4
	}
	return string(b[:])
}

// ident returns a fresh identifier: prefix and width characters of base 62
// (see ident), derived from the seed and the counter.
func (f *fake) ident(prefix string, width int) string {
	return ident(prefix, f.seed^f.counter.Add(1), width)
}

// record keeps r unless recording is off, and returns its index, or -1.
func (f *fake) record(r *http.Request, body []byte) int {
	if f.noRecord {
		return -1
	}
	rec := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
	if r.URL.RawQuery != "" {
		rec.Query = r.URL.Query()
	}
	rec.Body, rec.JSON = decodeBody(body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, rec)
	return len(f.reqs) - 1
}

// setBody fills in the body of the request recorded at index n.
func (f *fake) setBody(n int, body []byte) {
	if n < 0 {
		return
	}
	b, m := decodeBody(body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs[n].Body, f.reqs[n].JSON = b, m
}

// setConversation keeps a copy of conv as the Conversation of the request
// recorded at index n.
func (f *fake) setConversation(n int, conv *Conversation) {
	if n < 0 {
		return
	}
	c := *conv
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs[n].Conversation = &c
}

func decodeBody(body []byte) ([]byte, map[string]any) {
	if len(body) == 0 {
		return nil, nil
	}
	b := bytes.Clone(body)
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		m = nil
	}
	return b, m
}

// Buffer pools: request bodies and response bodies are reused across
// requests; unusually large ones are left to the garbage collector.
var (
	bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	outPool  = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
)

const maxPooled = 1 << 20

func putBody(b *bytes.Buffer) {
	if b.Cap() <= maxPooled {
		b.Reset()
		bodyPool.Put(b)
	}
}

// readBody reads the whole request body into buf.
func readBody(r *http.Request, buf *bytes.Buffer) ([]byte, error) {
	buf.Reset()
	if r.ContentLength > 0 && r.ContentLength <= maxPooled {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(r.Body)
	return buf.Bytes(), err
}

// Header values shared by every response; net/http never modifies them.
var (
	hdrJSON        = []string{"application/json"}
	hdrEventStream = []string{"text/event-stream; charset=utf-8"}
	hdrNoCache     = []string{"no-cache"}
	hdrVersion     = []string{"2020-10-01"}
	hdrProcessing  = []string{"1"}
	hdrRetryAfter  = []string{"1"}
	hdrLimit       = []string{"3"}
	hdrRemaining   = []string{"0"}
	hdrReset       = []string{"1s"}
)

// setHeaders sets the headers every OpenAI answer carries.
func setHeaders(h http.Header, id string) {
	h["X-Request-Id"] = []string{"req_" + id}
	h["Openai-Version"] = hdrVersion
	h["Openai-Processing-Ms"] = hdrProcessing
}

// writeJSON writes a 200 JSON answer.
func (p *Provider) writeJSON(w http.ResponseWriter, id string, body []byte) {
	h := w.Header()
	setHeaders(h, id)
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeError writes e with its status.
func (p *Provider) writeError(w http.ResponseWriter, id string, e apiError) {
	out := outPool.Get().(*[]byte)
	defer outPool.Put(out)
	*out = appendError((*out)[:0], e)
	h := w.Header()
	setHeaders(h, id)
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(*out))}
	if e.status == http.StatusTooManyRequests {
		h["Retry-After"] = hdrRetryAfter
		h["X-Ratelimit-Limit-Requests"] = hdrLimit
		h["X-Ratelimit-Remaining-Requests"] = hdrRemaining
		h["X-Ratelimit-Reset-Requests"] = hdrReset
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(*out)
}

// answer writes a non-streaming answer after the configured delay; ModelCut
// writes half of it and drops the connection.
func (p *Provider) answer(w http.ResponseWriter, r *http.Request, id string, body []byte, b behaviour) {
	if p.delay > 0 && !p.sleep(r.Context(), nil) {
		return
	}
	if b != cut {
		p.writeJSON(w, id, body)
		return
	}
	h := w.Header()
	setHeaders(h, id)
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	writeHalf(w, body)
}

// hold waits until the client goes away, or until the provider is closed
// and then drops the connection.
func (f *fake) hold(ctx context.Context) {
	select {
	case <-ctx.Done():
		f.cancelled.Add(1)
	case <-f.stop:
		panic(http.ErrAbortHandler)
	}
}

// sleep waits the configured delay, reusing t when it is not nil. It returns
// false, counting a cancellation, when the client goes away first, and true
// when the delay passed or the provider is closed.
func (f *fake) sleep(ctx context.Context, t *time.Timer) bool {
	select {
	case <-f.stop:
		return true
	default:
	}
	if t == nil {
		t = time.NewTimer(f.delay)
		defer t.Stop()
	} else {
		t.Reset(f.delay)
	}
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		f.cancelled.Add(1)
		return false
	case <-f.stop:
		return true
	}
}

// streamKind holds what differs between chat and legacy completions.
type streamKind struct {
	idPrefix    string
	object      string // of a chunk
	role        []byte // first chunk; nil when the kind has none
	open, close []byte // around a content piece's JSON string
	stop, limit []byte // finish chunk for "stop" and "length"
	// whole appends a non-streaming answer.
	whole func(b []byte, id string, created int64, model string, rep *reply, u *usage) []byte
}

var (
	chatStream = streamKind{"chatcmpl-", "chat.completion.chunk", chatRoleChoice, chatDeltaOpen, chatDeltaClose, chatStopChoice, chatLimitChoice, appendChatCompletion}
	textStream = streamKind{"cmpl-", "text_completion", nil, textDeltaOpen, textDeltaClose, textStopChoice, textLimitChoice, appendTextCompletion}
)

// sse writes one server-sent event stream.
type sse struct {
	eventWriter
	kind *streamKind
	head []byte // "data: {...,"choices":["
	tail []byte // after the choice
	out  *[]byte
}

// newStream sets the stream's headers; nothing is written until the first
// send.
func (p *Provider) newStream(w http.ResponseWriter, r *http.Request, id string, kind *streamKind, objID string, created int64, model string, nullUsage bool) *sse {
	h := w.Header()
	setHeaders(h, id)
	h["Content-Type"] = hdrEventStream
	h["Cache-Control"] = hdrNoCache
	s := &sse{eventWriter: p.newEventWriter(w, r), kind: kind, tail: tailNoUsage, out: outPool.Get().(*[]byte)}
	if nullUsage {
		s.tail = tailNullUsage
	}
	s.head = appendHead(append(make([]byte, 0, 192), "data: "...), objID, kind.object, created, model)
	return s
}

// release returns the stream's buffer to the pool.
func (s *sse) release() { outPool.Put(s.out) }

// send writes a chunk with one choice.
func (s *sse) send(choice []byte) bool {
	b := append(append(append((*s.out)[:0], s.head...), choice...), s.tail...)
	*s.out = b
	return s.write(b)
}

// sendContent writes a content chunk.
func (s *sse) sendContent(piece string) bool {
	b := append(append((*s.out)[:0], s.head...), s.kind.open...)
	b = appendString(b, piece)
	b = append(append(b, s.kind.close...), s.tail...)
	*s.out = b
	return s.write(b)
}

// sendUsage writes the final usage chunk, whose choices are empty.
func (s *sse) sendUsage(u usage) bool {
	b := append(append((*s.out)[:0], s.head...), `],"usage":`...)
	b = append(appendUsage(b, u), "}\n\n"...)
	*s.out = b
	return s.write(b)
}

// stream writes a whole stream: the role chunk when first is set and the
// kind has one, the content chunks, the finish chunk, the usage chunk when u
// is not nil, and "data: [DONE]". ModelHold stops after the first chunk,
// ModelCut after the first content chunk.
func (p *Provider) stream(s *sse, rep *reply, u *usage, b behaviour, first bool) {
	sent := 0
	if first && s.kind.role != nil {
		if !s.send(s.kind.role) {
			return
		}
		sent++
	}
	for _, piece := range rep.pieces {
		if b == hold && sent > 0 {
			break
		}
		if !s.sendContent(piece) {
			return
		}
		sent++
		if b == cut {
			panic(http.ErrAbortHandler)
		}
	}
	switch b {
	case hold:
		if sent == 0 && !s.send(s.kind.stop) {
			return
		}
		p.hold(s.ctx)
		return
	case cut:
		panic(http.ErrAbortHandler)
	}
	finish := s.kind.stop
	if rep.finish == "length" {
		finish = s.kind.limit
	}
	if !s.send(finish) {
		return
	}
	if u != nil && !s.sendUsage(*u) {
		return
	}
	s.write(eventDone)
}
