// Package relay serves the OpenAI-compatible API: it authenticates a token,
// picks a channel for the model, lets the channel type's Adaptor translate
// the request, does the round trip, passes the answer on (streams chunk by
// chunk) and records usage and a log entry for every request.
package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/go-chi/chi/v5"
	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
)

// Keys resolves API keys to tokens. The relay calls it on every request,
// so it must answer from memory.
type Keys interface {
	// TokenByKey returns the token of a key and its group, or an error with
	// code EUNAUTHORIZED for an unknown key. The values are shared and
	// read-only.
	TokenByKey(ctx context.Context, key string) (*aiproxy.Token, *aiproxy.Group, error)
}

// Catalog tells which channels serve which models. The relay calls it on
// every request, so it must answer from memory.
type Catalog interface {
	// Channels returns the enabled channels serving model, highest priority
	// first; nil when there are none. The values are shared and read-only.
	Channels(model string) []*aiproxy.Channel
	// ModelConfig returns the model's config, if it has one.
	ModelConfig(model string) (*aiproxy.ModelConfig, bool)
	// Models returns every model served by an enabled channel, sorted.
	Models() []string
}

// Handler serves the relay endpoints. Keys, Catalog, Logs and Adaptors are
// required; every other field has a working zero value.
type Handler struct {
	Keys     Keys
	Catalog  Catalog
	Logs     aiproxy.LogRecorder
	Adaptors map[aiproxy.ChannelType]Adaptor

	// Client does the upstream round trips. Nil means a client with
	// NewTransport(TransportOptions{}).
	Client *http.Client
	// MaxBodyBytes caps a request body; larger ones get 413. 0 means 32 MiB.
	MaxBodyBytes int64
	// MaxAttempts is how many channels one request may try before it fails.
	// 0 means 3.
	MaxAttempts int
	// StreamIdleTimeout ends a stream whose provider sends nothing for this
	// long. 0 means 5 minutes.
	StreamIdleTimeout time.Duration
	// SaveBodies keeps request and response bodies (up to MaxSavedBody
	// bytes each) in the logs.
	SaveBodies bool
	// MaxSavedBody caps a saved body. 0 means 1 MiB.
	MaxSavedBody int
	// Logger receives internal failures. Nil means slog.Default().
	Logger *slog.Logger

	idPrefix string
	counter  atomic.Uint64
}

// Mount registers the relay endpoints under /v1 on r.
func (h *Handler) Mount(r chi.Router) {
	var b [6]byte
	rand.Read(b[:])
	h.idPrefix = hex.EncodeToString(b[:])
	if h.Client == nil {
		h.Client = &http.Client{Transport: NewTransport(TransportOptions{})}
	}
	// Routes are registered on r itself rather than on a sub-router: every
	// router layer deepens the stack each held stream keeps.
	rr := r.With(recoverer(h.logger()))
	endpoints := []struct {
		method, path string
		handler      http.HandlerFunc
	}{
		{http.MethodPost, "/v1/chat/completions", h.serve(aiproxy.ModeChat)},
		{http.MethodPost, "/v1/completions", h.serve(aiproxy.ModeCompletions)},
		{http.MethodPost, "/v1/embeddings", h.serve(aiproxy.ModeEmbeddings)},
		{http.MethodGet, "/v1/models", h.models},
		{http.MethodGet, "/v1/models/*", h.model},
	}
	for _, e := range endpoints {
		rr.HandleFunc(e.path, methodNotAllowed)
		rr.Method(e.method, e.path, e.handler)
	}
	rr.HandleFunc("/v1/*", func(w http.ResponseWriter, r *http.Request) {
		writeErrorBody(w, http.StatusNotFound, appendError(nil, http.StatusNotFound,
			"Unknown request URL: "+r.Method+" "+r.URL.Path, "", "unknown_url"))
	})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeErrorBody(w, http.StatusMethodNotAllowed, appendError(nil, http.StatusMethodNotAllowed,
		"Method "+r.Method+" is not allowed for "+r.URL.Path, "", "method_not_allowed"))
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// recoverer turns a panic into a 500 in OpenAI format.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error("relay: panic", "path", r.URL.Path, "panic", v)
					writeError(w, errors.New("panic"))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// requestID returns a new id: a per-process random prefix and a counter.
func (h *Handler) requestID() string {
	return "req_" + h.idPrefix + strconv.FormatUint(h.counter.Add(1), 36)
}

// apiKey returns the key a request carries in Authorization: Bearer,
// x-api-key (Anthropic clients) or x-goog-api-key (Gemini clients).
func apiKey(r *http.Request) string {
	if v := r.Header.Get("Authorization"); v != "" {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return strings.TrimSpace(v[7:])
		}
		return ""
	}
	if v := r.Header.Get("X-Api-Key"); v != "" {
		return v
	}
	return r.Header.Get("X-Goog-Api-Key")
}

// clientIP returns the address of the peer that sent r.
func clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// authenticate resolves the request's token and checks that it may be
// used now, from this address.
func (h *Handler) authenticate(r *http.Request, ip netip.Addr) (*aiproxy.Token, *aiproxy.Group, error) {
	key := apiKey(r)
	if key == "" {
		return nil, nil, aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.")
	}
	tok, grp, err := h.Keys.TokenByKey(r.Context(), key)
	if err != nil {
		if aiproxy.ErrorCode(err) == aiproxy.EINTERNAL {
			h.logger().Error("relay: look up token", "err", err)
		}
		return nil, nil, err
	}
	switch {
	case !tok.Enabled:
		return nil, nil, aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "This API key is disabled.")
	case tok.Expired(time.Now()):
		return nil, nil, aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "This API key has expired.")
	case !tok.AllowsIP(ip):
		return nil, nil, aiproxy.Errorf(aiproxy.EFORBIDDEN, "This API key may not be used from %s.", ip)
	case grp != nil && !grp.Enabled:
		return nil, nil, aiproxy.Errorf(aiproxy.EFORBIDDEN, "The group of this API key is disabled.")
	}
	return tok, grp, nil
}

// exchange is the state of one relayed request.
type exchange struct {
	w        http.ResponseWriter
	r        *http.Request
	start    time.Time
	log      aiproxy.Log
	token    *aiproxy.Token
	body     []byte
	wantsUse bool // the client asked for the usage chunk of a stream
	usage    *aiproxy.Usage
	text     []byte // generated text, kept while usage is unknown
	respBody []byte // streamed text kept for the log when SaveBodies is on
	answered bool   // a provider answered with success, so usage is billed
}

// fail answers the client with err and records it.
func (x *exchange) fail(err error) {
	x.log.StatusCode = writeError(x.w, err)
	x.log.Error = aiproxy.ErrorMessage(err)
}

// serve returns the handler of one endpoint of mode.
func (h *Handler) serve(mode aiproxy.Mode) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ip := clientIP(r)
		x := &exchange{w: w, r: r, start: time.Now()}
		x.log = aiproxy.Log{
			RequestID: h.requestID(),
			CreatedAt: x.start.UTC(),
			Endpoint:  r.URL.Path,
			Mode:      mode,
			ClientIP:  ip.String(),
		}
		w.Header().Set("X-Request-Id", x.log.RequestID)
		tok, grp, err := h.authenticate(r, ip)
		if err != nil {
			writeError(w, err)
			return // not logged: no group to log it for
		}
		x.token = tok
		x.log.TokenID, x.log.TokenName, x.log.GroupID = tok.ID, tok.Name, tok.GroupID
		if grp != nil {
			x.log.GroupID = grp.ID
		}
		defer h.record(x)

		if err := h.readBody(x); err != nil {
			x.fail(err)
			return
		}
		chs, err := h.route(x)
		if err != nil {
			x.fail(err)
			return
		}
		h.forward(x, chs)
	}
}

// readBody reads and checks the request body.
func (h *Handler) readBody(x *exchange) error {
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = 32 << 20
	}
	r := x.r
	if r.ContentLength > limit {
		return aiproxy.Errorf(aiproxy.ETOOLARGE, "Request body is larger than the limit of %d bytes.", limit)
	}
	var body []byte
	var err error
	if r.ContentLength > 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
		if int64(len(body)) > limit {
			return aiproxy.Errorf(aiproxy.ETOOLARGE, "Request body is larger than the limit of %d bytes.", limit)
		}
	}
	if err != nil {
		return aiproxy.Errorf(aiproxy.EINVALID, "Could not read the request body: %v.", err)
	}
	x.body = body
	if h.SaveBodies {
		x.log.RequestBody = h.clip(body)
	}
	js := unsafeString(body)
	if !gjson.Valid(js) {
		return aiproxy.Errorf(aiproxy.EINVALID, "We could not parse the JSON body of your request. The body must be a JSON object.")
	}
	root := gjson.Parse(js)
	if !root.IsObject() {
		return aiproxy.Errorf(aiproxy.EINVALID, "The request body must be a JSON object.")
	}
	model := root.Get("model")
	if model.Type != gjson.String || model.Str == "" {
		return aiproxy.FieldErrorf("model", "You must provide a model parameter.")
	}
	x.log.Model = strings.Clone(model.Str)
	if x.log.Mode == aiproxy.ModeChat || x.log.Mode == aiproxy.ModeCompletions {
		x.log.Stream = root.Get("stream").Bool()
		x.wantsUse = root.Get("stream_options.include_usage").Bool()
	}
	return nil
}

// route returns the channels that may serve the request's model.
func (h *Handler) route(x *exchange) ([]*aiproxy.Channel, error) {
	chs := h.Catalog.Channels(x.log.Model)
	if len(chs) == 0 {
		return nil, aiproxy.Errorf(aiproxy.ENOTFOUND, "The model `%s` does not exist or you do not have access to it.", x.log.Model)
	}
	if !x.token.AllowsModel(x.log.Model) {
		return nil, aiproxy.Errorf(aiproxy.EFORBIDDEN, "This API key is not allowed to use the model `%s`.", x.log.Model)
	}
	return chs, nil
}

// forward tries the channels in turn until one answers, and passes its
// answer on. Another channel is tried only while nothing has been written
// to the client and the failure was not the client's fault.
func (h *Handler) forward(x *exchange, chs []*aiproxy.Channel) {
	attempts := h.MaxAttempts
	if attempts <= 0 {
		attempts = 3
	}
	var tried [8]int64
	var lastErr error
	for n := 0; n < attempts && n < len(tried); n++ {
		ch := pick(chs, tried[:n])
		if ch == nil {
			break
		}
		tried[n] = ch.ID
		err := h.attempt(x, ch)
		if err == nil {
			return
		}
		lastErr = err
		if x.r.Context().Err() != nil {
			break
		}
		h.logger().Warn("relay: channel failed", "request_id", x.log.RequestID, "channel", ch.ID, "model", x.log.Model, "err", err)
	}
	if x.r.Context().Err() != nil {
		x.log.StatusCode = StatusClientClosed
		x.log.Error = "client disconnected"
		return
	}
	if lastErr == nil {
		lastErr = aiproxy.Errorf(aiproxy.EUNAVAILABLE, "No channel is available for the model `%s`.", x.log.Model)
	}
	var ue *UpstreamError
	if errors.As(lastErr, &ue) {
		x.failUpstream(ue)
		return
	}
	x.fail(lastErr)
}

// failUpstream answers the client after every channel failed, the last
// one with ue.
func (x *exchange) failUpstream(ue *UpstreamError) {
	var err error
	switch {
	case ue.Status == http.StatusTooManyRequests:
		if ue.RetryAfter > 0 {
			x.w.Header().Set("Retry-After", strconv.Itoa(int((ue.RetryAfter+time.Second-1)/time.Second)))
		}
		err = aiproxy.Errorf(aiproxy.ERATELIMITED, "The provider is rate limiting requests for `%s`; retry later.", x.log.Model)
	case ue.Status == 0 && ue.Code == "timeout":
		err = aiproxy.Errorf(aiproxy.ETIMEOUT, "The provider did not answer in time.")
	case ue.Status == 0:
		err = aiproxy.Errorf(aiproxy.EUPSTREAM, "The provider could not be reached.")
	default:
		err = aiproxy.Errorf(aiproxy.EUPSTREAM, "The provider failed with status %d.", ue.Status)
	}
	x.fail(err)
	x.log.Error = ue.Error()
}

// attempt sends the request to one channel. It returns an error only when
// nothing was written to the client, so another channel may be tried.
func (h *Handler) attempt(x *exchange, ch *aiproxy.Channel) error {
	ad := h.Adaptors[ch.Type]
	if ad == nil {
		return fmt.Errorf("relay: no adaptor for channel type %q", ch.Type)
	}
	call := &Call{
		Mode:          x.log.Mode,
		Endpoint:      x.log.Endpoint,
		Channel:       ch,
		Model:         x.log.Model,
		UpstreamModel: ch.UpstreamModel(x.log.Model),
		Stream:        x.log.Stream,
		Body:          x.body,
	}
	x.log.ChannelID, x.log.UpstreamModel = ch.ID, call.UpstreamModel

	ctx, cancel := context.WithCancelCause(x.r.Context())
	defer cancel(nil)
	req, err := ad.Request(ctx, call)
	if err != nil {
		return err
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return transportError(err)
	}
	if resp.StatusCode >= 400 {
		ue := ad.Error(call, resp)
		resp.Body.Close()
		if ue.ClientFault() {
			x.log.StatusCode = ue.Status
			x.log.Error = ue.Message
			writeErrorBody(x.w, ue.Status, ue.Body)
			return nil
		}
		return ue
	}
	if call.Stream {
		h.stream(ctx, cancel, x, call, ad, resp)
		return nil
	}
	defer resp.Body.Close()
	x.log.TTFB = time.Since(x.start)
	res, err := ad.Response(call, resp)
	if err != nil {
		if x.r.Context().Err() == nil && !errors.Is(err, context.Canceled) {
			return transportError(err)
		}
		x.log.StatusCode = StatusClientClosed
		x.log.Error = "client disconnected"
		return nil
	}
	x.answered = true
	x.usage, x.text = res.Usage, res.Text
	if h.SaveBodies {
		x.log.ResponseBody = h.clip(res.Body)
	}
	ct := res.ContentType
	if ct == "" {
		ct = "application/json"
	}
	hd := x.w.Header()
	hd.Set("Content-Type", ct)
	hd.Set("Content-Length", strconv.Itoa(len(res.Body)))
	x.w.WriteHeader(resp.StatusCode)
	x.w.Write(res.Body)
	x.log.StatusCode = resp.StatusCode
	return nil
}

// transportError turns a failed round trip into an *UpstreamError.
func transportError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errIdle) {
		return &UpstreamError{Code: "timeout", Message: "timeout: " + err.Error()}
	}
	var ue *UpstreamError
	if errors.As(err, &ue) {
		return ue
	}
	return &UpstreamError{Message: err.Error()}
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// clip returns b as a string of at most MaxSavedBody bytes.
func (h *Handler) clip(b []byte) string {
	max := h.MaxSavedBody
	if max <= 0 {
		max = 1 << 20
	}
	if len(b) > max {
		return string(b[:max]) + "…(truncated)"
	}
	return string(b)
}

// record completes the request's log entry and hands it to the recorder.
// It runs deferred, so a request whose client went away is recorded too.
func (h *Handler) record(x *exchange) {
	l := &x.log
	l.Latency = time.Since(x.start)
	if l.StatusCode == 0 {
		l.StatusCode = http.StatusInternalServerError
	}
	if x.answered {
		if x.usage != nil {
			l.Usage = *x.usage
		} else {
			l.Usage = countUsage(l.Mode, l.UpstreamModel, x.body, x.text)
			l.UsageCounted = true
		}
		if l.Usage.TotalTokens == 0 {
			l.Usage.TotalTokens = l.Usage.PromptTokens + l.Usage.CompletionTokens
		}
	}
	if x.respBody != nil {
		l.ResponseBody = h.clip(x.respBody)
	}
	if mc, ok := h.Catalog.ModelConfig(l.Model); ok {
		l.Amount = mc.Cost(l.Usage)
	} else {
		l.Unpriced = true
	}
	h.Logs.Record(l)
}
