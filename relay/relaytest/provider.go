// Package relaytest provides a fake OpenAI-compatible provider for the
// relay's tests, the end-to-end tests and the load tool.
//
// The provider speaks OpenAI's wire format closely enough for the official
// OpenAI Go SDK to parse it: chat completions (plain and streamed as
// server-sent events), legacy completions, embeddings (float and base64) and
// the models list, with OpenAI's error objects. Tests steer it per request
// through special model names (ModelHang, ModelRateLimited, ...), so one
// provider can serve many channels, and per provider through Options.
//
// Replies are deterministic. A chat reply echoes the last user message
// ("Hello! You said: hi", at most 256 runes of it; "Hello!" when there is
// none), a completions reply the first prompt; WithReply fixes the reply
// instead. The model field echoes the request's model, so a test sees the
// model a gateway mapped to. Token counts are words as counted by Tokens:
// prompt_tokens is the words of every message (or prompt, or input),
// completion_tokens the words of the reply. max_completion_tokens or
// max_tokens cuts the reply to that many words, with finish_reason
// "length". Only one choice is ever sent, whatever n says.
//
// A stream has OpenAI's shape: for chat, a first chunk whose delta is
// {"role":"assistant","content":"","refusal":null}, then one chunk per
// content piece (a word by default, see WithChunks), then a finish chunk
// whose delta is {} and finish_reason "stop"; legacy completions have no
// role chunk and a finish chunk with text "". When the request sets
// stream_options.include_usage, a last chunk has "choices":[] and the usage,
// and every other chunk has "usage":null; otherwise no chunk has a usage
// field. "data: [DONE]" ends the stream. Streams are sent with
// Content-Type "text/event-stream; charset=utf-8" and flushed per event.
// Every answer, errors included, has an x-request-id header ("req_" and 32
// hex digits).
//
// Answering costs no reflection on the write path, no logging and few
// allocations, so a load test can run it at thousands of requests a second
// (WithoutRecording keeps its memory flat).
package relaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Special model names. A request whose model starts with one of these
// behaves as described, on every endpoint but GET /v1/models; any other
// model is answered normally. A suffix keeps the behaviour, so
// "fake-error-429-a" and "fake-error-429-b" can name two channels' models.
// Authentication is checked first: a wrong key gets a 401 whatever the
// model. The error models answer a streaming request with the same JSON
// error and status, not with a stream, as OpenAI does.
const (
	// ModelNoUsage is answered normally but with no usage at all: no usage
	// field in a non-streaming reply, and no usage chunk (nor "usage":null)
	// in a stream even with stream_options.include_usage, so the gateway has
	// to count tokens itself.
	ModelNoUsage = "fake-no-usage"

	// ModelHang never answers, streamed or not: no status, no header, no
	// byte. The handler returns when the client goes away (counted by
	// Cancelled), or drops the connection when the provider is closed. For
	// timeout tests.
	ModelHang = "fake-hang"

	// ModelHold, streamed, sends the headers and the first chunk and then
	// holds the stream open until the client goes away (counted by
	// Cancelled), or drops the connection when the provider is closed. Not
	// streamed (embeddings included), it behaves as ModelHang. For
	// long-lived and many-open-streams tests.
	ModelHold = "fake-hold"

	// ModelCut, streamed, sends the first chunk and the first content chunk,
	// then drops the connection without the terminating chunk or
	// "data: [DONE]". Not streamed, it sends the status, the headers with the
	// full Content-Length and half the body, then drops the connection. It
	// does so by panicking with http.ErrAbortHandler, which net/http's
	// server handles silently.
	ModelCut = "fake-cut"

	// ModelBadRequest is answered 400 with type "invalid_request_error",
	// param "model" and code "invalid_value".
	ModelBadRequest = "fake-error-400"

	// ModelUnauthorized is answered 401 with type "invalid_request_error"
	// and code "invalid_api_key", whatever the key.
	ModelUnauthorized = "fake-error-401"

	// ModelNotFound is answered 404 with type "invalid_request_error" and
	// code "model_not_found", as OpenAI answers a model it does not serve.
	ModelNotFound = "fake-error-404"

	// ModelRateLimited is answered 429 with type "requests", code
	// "rate_limit_exceeded", the header "Retry-After: 1" and OpenAI's
	// x-ratelimit-* headers.
	ModelRateLimited = "fake-error-429"

	// ModelServerError is answered 500 with type "server_error" and a null
	// code.
	ModelServerError = "fake-error-500"

	// ModelUnavailable is answered 503 with type "server_error" and a null
	// code, as OpenAI answers an overloaded model.
	ModelUnavailable = "fake-error-503"
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

// DefaultModels is what GET /v1/models lists unless WithModels says
// otherwise.
var DefaultModels = []string{"gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo-instruct", "text-embedding-3-small"}

// echoRunes bounds how much of the user's message a reply echoes, so a huge
// prompt does not make a huge reply.
const echoRunes = 256

// Option configures a Provider.
type Option func(*Provider)

// WithKey makes the provider require "Authorization: Bearer key" on every
// request. A missing header is answered 401 with a null code, a wrong key 401
// with code "invalid_api_key", both of type "invalid_request_error". Without
// this option, or with "", any or no key is accepted.
func WithKey(key string) Option {
	return func(p *Provider) { p.key = key }
}

// WithReply makes every chat and completions reply the given text instead
// of the echo of the request. WithReply("") makes empty replies: a stream of
// only the first chunk and the finish chunk.
func WithReply(text string) Option {
	return func(p *Provider) { p.reply, p.fixed = text, true }
}

// WithChunks makes every stream carry exactly n content chunks: the reply's
// words grouped evenly, or its runes when it has fewer words than
// n, padded with empty chunks when it has fewer runes. With n <= 0, the
// default, each word is a chunk, carrying the whitespace before it.
func WithChunks(n int) Option {
	return func(p *Provider) { p.chunks = n }
}

// WithChunkDelay makes the provider wait d before each event of a stream,
// the first chunk and "data: [DONE]" included, so the first byte arrives
// after d and a stream of k events lasts k·d; and wait d before a
// non-streaming answer. A client that goes away during a wait ends the
// request at once (counted by Cancelled). Zero, the default, means no wait.
func WithChunkDelay(d time.Duration) Option {
	return func(p *Provider) { p.delay = d }
}

// WithoutUsage makes every reply behave as ModelNoUsage: no usage object
// anywhere.
func WithoutUsage() Option {
	return func(p *Provider) { p.noUsage = true }
}

// WithCachedTokens makes every usage report n of its prompt tokens as
// prompt_tokens_details.cached_tokens (at most all of them). The default
// is 0.
func WithCachedTokens(n int) Option {
	return func(p *Provider) { p.cached = int64(n) }
}

// WithModels sets the ids GET /v1/models lists, in order, instead of
// DefaultModels. It does not restrict which models the provider answers.
func WithModels(ids ...string) Option {
	return func(p *Provider) { p.modelIDs = ids }
}

// WithEarlyAnswer makes the provider answer POST /v1/chat/completions before
// it reads the request body, for tests of a gateway still sending a large
// body when the answer arrives. It enables full duplex on the response
// (http.ResponseController.EnableFullDuplex), so net/http neither consumes
// the body before the first write nor closes it. The answer is always a
// stream whose chunks name EarlyModel, whatever the body says, and special
// model names have no effect; with EarlyDrain the reply echoes the body and
// the usage chunk is sent when the body asks for it, with EarlyIgnore the
// reply is the WithReply text or "Hello!" and has no usage. The key is still
// checked first (WithKey). The other endpoints are not affected. The
// default is EarlyOff.
func WithEarlyAnswer(m EarlyMode) Option {
	return func(p *Provider) { p.early = m }
}

// WithoutRecording stops the provider keeping a Request for each request,
// so that a load test's memory stays flat; Requests then returns nil.
func WithoutRecording() Option {
	return func(p *Provider) { p.noRecord = true }
}

// Request is one request a provider received, kept in arrival order unless
// recording is off (WithoutRecording). Its fields must not be modified.
type Request struct {
	Method string
	Path   string
	// Header holds the request's headers, Authorization included.
	Header http.Header
	// Body is the raw body; nil when it was never read (EarlyIgnore) or
	// was empty.
	Body []byte
	// JSON is Body decoded, with numbers as float64; nil when Body is not a
	// JSON object.
	JSON map[string]any
}

// Provider is a fake OpenAI-compatible upstream. It implements http.Handler
// for the endpoints POST /v1/chat/completions, POST /v1/completions,
// POST /v1/embeddings and GET /v1/models; any other method or path is
// answered 404 "Invalid URL (METHOD /path)" as OpenAI does. A Provider is
// safe for concurrent use; its zero value is not, use NewProvider.
type Provider struct {
	key      string
	reply    string
	fixed    bool
	chunks   int
	delay    time.Duration
	noUsage  bool
	cached   int64
	modelIDs []string
	early    EarlyMode
	noRecord bool

	fixedReply *reply // the split of reply when fixed
	models     []byte // GET /v1/models body

	seed      uint64
	counter   atomic.Uint64
	active    atomic.Int64
	cancelled atomic.Int64

	stop     chan struct{}
	stopOnce sync.Once

	mu   sync.Mutex
	reqs []Request
}

// NewProvider returns a provider configured by opts. It listens nowhere:
// serve it with Start, httptest.NewServer or any http.Server.
func NewProvider(opts ...Option) *Provider {
	p := &Provider{modelIDs: DefaultModels, seed: rand.Uint64(), stop: make(chan struct{})}
	for _, opt := range opts {
		opt(p)
	}
	if p.fixed {
		p.fixedReply = newReply(p.reply, p.chunks, "stop")
	}
	p.models = appendModels(nil, p.modelIDs)
	return p
}

// Start serves a new provider on an httptest.Server and closes both when tb
// finishes. The base URL of a channel pointing at it is srv.URL + "/v1".
func Start(tb testing.TB, opts ...Option) (*Provider, *httptest.Server) {
	tb.Helper()
	p := NewProvider(opts...)
	srv := httptest.NewServer(p)
	tb.Cleanup(func() {
		p.Close()
		srv.Close()
	})
	return p, srv
}

// Close releases every request the provider is holding, so that a server
// can shut down: hanging and held requests (ModelHang, ModelHold) drop their
// connection at once, without being counted by Cancelled, and delays
// (WithChunkDelay) are skipped. Later requests are served as before, except
// that they too hang or hold no more and wait no delay. Close is idempotent.
func (p *Provider) Close() {
	p.stopOnce.Do(func() { close(p.stop) })
}

// Requests returns a copy of the list of requests received so far, oldest
// first, unauthorized and malformed ones included; nil when there are none
// or recording is off.
func (p *Provider) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reqs == nil {
		return nil
	}
	return append([]Request(nil), p.reqs...)
}

// Active returns how many requests the provider is serving right now. A
// request counts from the moment ServeHTTP is entered until it returns, so a
// stream counts until its last event is written or it is given up.
func (p *Provider) Active() int { return int(p.active.Load()) }

// Cancelled returns how many requests were given up because their client
// went away before the provider finished answering: a stream before
// "data: [DONE]" was written, a hanging or held request, a request during a
// delay or while its body was being read. It is updated before Active drops,
// so once Active reports 0 it is final.
func (p *Provider) Cancelled() int64 { return p.cancelled.Load() }

// WaitActive waits until Active returns n, and fails tb if it does not
// within ten seconds. Call it from the test's goroutine.
func (p *Provider) WaitActive(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.Active() != n {
		if time.Now().After(deadline) {
			tb.Fatalf("relaytest: %d requests active after 10s, want %d", p.Active(), n)
		}
		time.Sleep(time.Millisecond)
	}
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
	p.record(r, body)

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
		p.serveChat(w, r, id, &req, b)
	case epCompletions:
		p.serveCompletions(w, r, id, &req, b)
	case epEmbeddings:
		p.serveEmbeddings(w, r, id, &req, b)
	}
}

func (p *Provider) serveChat(w http.ResponseWriter, r *http.Request, id string, req *request, b behaviour) {
	if req.Messages == nil {
		p.writeError(w, id, errMissing("messages"))
		return
	}
	if len(req.Messages) == 0 {
		p.writeError(w, id, apiError{status: http.StatusBadRequest, message: "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", typ: "invalid_request_error", param: "messages", code: "empty_array"})
		return
	}
	said, prompt := chatPrompt(req.Messages)
	p.serveReply(w, r, id, req, b, &chatStream, said, prompt)
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
	p.serveReply(w, r, id, req, b, &textStream, said, prompt)
}

// serveReply answers a chat or completions request, streamed or not.
func (p *Provider) serveReply(w http.ResponseWriter, r *http.Request, id string, req *request, b behaviour, kind *streamKind, said string, prompt int64) {
	rep := p.replyFor(said, req.maxTokens())
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

// chatPrompt returns the text of the last user message and the prompt's
// token count: the words of every message.
func chatPrompt(msgs []message) (said string, prompt int64) {
	for _, m := range msgs {
		prompt += int64(Tokens(string(m.Content)))
		if m.Role == "user" {
			said = string(m.Content)
		}
	}
	return said, prompt
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

	rep := p.replyFor("", 0)
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
			said, prompt := chatPrompt(req.Messages)
			rep = p.replyFor(said, req.maxTokens())
			if req.StreamOptions.IncludeUsage {
				u = p.usage(prompt, rep.tokens, normal)
			}
		}
	}
	p.stream(s, rep, u, normal, false)
}

// behaviour is what a special model name asks for.
type behaviour int

const (
	normal behaviour = iota
	noUsage
	hang
	hold
	cut
	fail
)

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
	case strings.HasPrefix(model, "fake-error-"):
		if _, ok := statusOf(model); ok {
			return fail
		}
	}
	return normal
}

// statusOf returns the status a ModelXxx error name asks for.
func statusOf(model string) (int, bool) {
	for _, m := range []struct {
		name   string
		status int
	}{
		{ModelBadRequest, http.StatusBadRequest},
		{ModelUnauthorized, http.StatusUnauthorized},
		{ModelNotFound, http.StatusNotFound},
		{ModelRateLimited, http.StatusTooManyRequests},
		{ModelServerError, http.StatusInternalServerError},
		{ModelUnavailable, http.StatusServiceUnavailable},
	} {
		if strings.HasPrefix(model, m.name) {
			return m.status, true
		}
	}
	return 0, false
}

// modelError returns the error a ModelXxx error name asks for, worded as
// OpenAI words it.
func modelError(model, id string) apiError {
	status, _ := statusOf(model)
	switch status {
	case http.StatusBadRequest:
		return apiError{status: status, message: "Invalid value for 'model': '" + model + "' rejects every request.", typ: "invalid_request_error", param: "model", code: "invalid_value"}
	case http.StatusUnauthorized:
		return apiError{status: status, message: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", typ: "invalid_request_error", code: "invalid_api_key"}
	case http.StatusNotFound:
		return apiError{status: status, message: "The model `" + model + "` does not exist or you do not have access to it.", typ: "invalid_request_error", code: "model_not_found"}
	case http.StatusTooManyRequests:
		return apiError{status: status, message: "Rate limit reached for " + model + " in organization org-relaytest on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more.", typ: "requests", code: "rate_limit_exceeded"}
	case http.StatusServiceUnavailable:
		return apiError{status: status, message: "That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists. (Please include the request ID req_" + id + " in your message.)", typ: "server_error"}
	}
	return apiError{status: http.StatusInternalServerError, message: "The server had an error while processing your request. Sorry about that!", typ: "server_error"}
}

// Errors OpenAI answers to malformed requests.
var (
	errParse   = apiError{status: http.StatusBadRequest, message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)", typ: "invalid_request_error"}
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

// replyFor returns the reply to a request whose user said said, cut to limit
// words when limit > 0.
func (p *Provider) replyFor(said string, limit int) *reply {
	text := p.reply
	if p.fixed {
		if limit <= 0 || p.fixedReply.tokens <= int64(limit) {
			return p.fixedReply
		}
	} else if said == "" {
		text = "Hello!"
	} else {
		text = "Hello! You said: " + truncateRunes(said, echoRunes)
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

// newID returns a fresh 32-hex-digit id, the base of the x-request-id
// header and of the reply's id.
func (p *Provider) newID() string {
	const hex = "0123456789abcdef"
	var b [32]byte
	x, y := p.seed, p.counter.Add(1)
	for i := 15; i >= 0; i-- {
		b[i], b[16+i] = hex[x&0xf], hex[y&0xf]
		x, y = x>>4, y>>4
	}
	return string(b[:])
}

// record keeps r unless recording is off, and returns its index, or -1.
func (p *Provider) record(r *http.Request, body []byte) int {
	if p.noRecord {
		return -1
	}
	rec := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
	rec.Body, rec.JSON = decodeBody(body)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, rec)
	return len(p.reqs) - 1
}

// setBody fills in the body of the request recorded at index n.
func (p *Provider) setBody(n int, body []byte) {
	if n < 0 {
		return
	}
	b, m := decodeBody(body)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs[n].Body, p.reqs[n].JSON = b, m
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
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body[:len(body)/2])
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// hold waits until the client goes away, or until the provider is closed
// and then drops the connection.
func (p *Provider) hold(ctx context.Context) {
	select {
	case <-ctx.Done():
		p.cancelled.Add(1)
	case <-p.stop:
		panic(http.ErrAbortHandler)
	}
}

// sleep waits the configured delay, reusing t when it is not nil. It returns
// false, counting a cancellation, when the client goes away first, and false
// when the provider is closed.
func (p *Provider) sleep(ctx context.Context, t *time.Timer) bool {
	select {
	case <-p.stop:
		return true
	default:
	}
	if t == nil {
		t = time.NewTimer(p.delay)
		defer t.Stop()
	} else {
		t.Reset(p.delay)
	}
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		p.cancelled.Add(1)
		return false
	case <-p.stop:
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
	p     *Provider
	w     http.ResponseWriter
	rc    *http.ResponseController
	ctx   context.Context
	kind  *streamKind
	head  []byte // "data: {...,"choices":["
	tail  []byte // after the choice
	out   *[]byte
	timer *time.Timer
}

// newStream sets the stream's headers; nothing is written until the first
// send.
func (p *Provider) newStream(w http.ResponseWriter, r *http.Request, id string, kind *streamKind, objID string, created int64, model string, nullUsage bool) *sse {
	h := w.Header()
	setHeaders(h, id)
	h["Content-Type"] = hdrEventStream
	h["Cache-Control"] = hdrNoCache
	s := &sse{p: p, w: w, rc: http.NewResponseController(w), ctx: r.Context(), kind: kind, tail: tailNoUsage, out: outPool.Get().(*[]byte)}
	if nullUsage {
		s.tail = tailNullUsage
	}
	s.head = appendHead(append(make([]byte, 0, 192), "data: "...), objID, kind.object, created, model)
	if p.delay > 0 {
		s.timer = time.NewTimer(p.delay)
		s.timer.Stop()
	}
	return s
}

// release returns the stream's buffer to the pool.
func (s *sse) release() { outPool.Put(s.out) }

// write sends one event after the configured delay and flushes it. It
// returns false, counting a cancellation, when the client is gone.
func (s *sse) write(event []byte) bool {
	if s.timer != nil && !s.p.sleep(s.ctx, s.timer) {
		return false
	}
	if s.ctx.Err() != nil {
		s.p.cancelled.Add(1)
		return false
	}
	if _, err := s.w.Write(event); err != nil {
		s.p.cancelled.Add(1)
		return false
	}
	if err := s.rc.Flush(); err != nil {
		s.p.cancelled.Add(1)
		return false
	}
	return true
}

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
