// Package relay serves the AI endpoints of the gateway, in every client
// protocol it knows (OpenAI, Anthropic, Gemini), in front of channels of
// every provider type. It reads top to bottom:
//
//   - the HTTP front (this file) finds the client's Ingress by route,
//     authenticates the key, reads the body and lets the Ingress parse it
//     into a Request;
//   - the Request goes down a chain of Handlers (chain.go): authorize the
//     model, account for usage (settle.go), the configured middleware
//     (plugins), and innermost the channel loop (route.go), which picks
//     channels and tries them in turn, records each Attempt, and returns
//     the answer converted to the client's protocol (convert.go) when the
//     channel speaks another;
//   - the front writes the Response, or the error, in the client's
//     protocol (write.go), and records the log entry.
//
// Providers are Adaptors (adaptor.go) that build HTTP requests and read
// answers; protocols are Formats and Ingresses (codec.go); the neutral
// form they convert through is package chat.
package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

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
	// Effective returns what applies to group g's requests for model:
	// limits, price, retries and timeouts (aiproxy.Effective).
	Effective(g *aiproxy.Group, model string) aiproxy.EffectiveModel
	// Models returns every model served by an enabled channel, sorted.
	Models() []string
}

// InFlight counts requests in flight (store.LiveHub). Start is called on
// every request, so it must not block and should not allocate.
type InFlight interface {
	// Start counts a request of group for model, a stream when stream is
	// true, until the returned function is called (once).
	Start(group, model string, stream bool) (end func())
}

// Alerts takes alerts for the operators (alert.Notifier). Alert is called
// on the request path: it must not block.
type Alerts interface {
	Alert(a aiproxy.Alert)
}

// Server serves the relay endpoints of its Ingresses. Keys, Catalog,
// Logs, Providers and Ingresses are required; every other field has a
// working zero value. Fields must not change once Mount was called.
type Server struct {
	Keys      Keys
	Catalog   Catalog
	Logs      aiproxy.LogRecorder
	Providers Providers
	// Ingresses are the client protocols served, each on its Routes. On a
	// route several of them share (GET /v1/models), the first whose
	// Route.Claims accepts the request serves it.
	Ingresses []RoutedIngress

	// Middleware wraps the channel loop, outermost first, inside the
	// relay's own authorization and accounting: plugins go here.
	Middleware []Middleware
	// Client does the upstream round trips. Nil means a client with
	// NewTransport(TransportOptions{}).
	Client *http.Client
	// MaxBodyBytes caps a request body; larger ones get 413. 0 means 32 MiB.
	MaxBodyBytes int64
	// MaxAttempts is how many channels one request may try before it fails.
	// 0 means 3.
	MaxAttempts int
	// Health steers requests away from failing channels (error rates,
	// breakers, Retry-After parking) and is told how every attempt went.
	// Nil means every channel is taken as healthy.
	Health Health
	// Breaker is the breaker policy of every channel; its zero fields take
	// the defaults (BreakerPolicy).
	Breaker aiproxy.BreakerPolicy
	// StreamIdleTimeout ends a stream whose provider sends nothing for this
	// long. 0 means 5 minutes.
	StreamIdleTimeout time.Duration
	// Timeouts bound a non-streaming attempt by mode, from sending the
	// request to the answer read whole; a mode missing (or 0) has no bound
	// of its own beyond the transport's. An attempt that runs out is a
	// timeout, tried again on another channel.
	Timeouts map[aiproxy.Mode]time.Duration
	// FirstEventTimeout bounds a streaming attempt until its first event
	// (then StreamIdleTimeout applies); 0 means StreamIdleTimeout.
	FirstEventTimeout time.Duration
	// SaveBodies keeps request and response bodies (up to MaxSavedBody
	// bytes each) in the logs of every request; without it they are kept
	// for failed requests and models whose config asks (SaveDetail).
	SaveBodies bool
	// MaxSavedBody caps a saved body, which is then flagged as truncated
	// in the log. 0 means 64 KiB.
	MaxSavedBody int
	// Logger receives internal failures. Nil means slog.Default().
	Logger *slog.Logger

	// Limiter admits requests against their limits (RPM, TPM, concurrency
	// and, with Billing, quotas and balances) and settles what they used.
	// Nil admits everything.
	Limiter Limiter
	// Charger is told what every request that reached a provider cost, to
	// update the used amounts of its token and group. Nil: nobody is.
	Charger aiproxy.Charger
	// Billing refuses requests the token's quota or the prepaid group's
	// balance does not cover (insufficient_quota), before any upstream
	// call.
	Billing bool
	// QuotaLocation is the time zone quota periods begin in; nil means UTC.
	QuotaLocation *time.Location
	// DefaultMaxOutput is the output a request that names no maximum is
	// reserved for (TPM and billing); 0 means 1024 tokens.
	DefaultMaxOutput int64
	// TrustedProxies are the networks whose X-Forwarded-For is believed:
	// a request from one of them is taken to come from the rightmost
	// address in that header outside them. Empty: the header is ignored.
	TrustedProxies []netip.Prefix
	// IPGuard detects client addresses shared by many groups and refuses
	// banned ones; nil is off.
	IPGuard *IPGuard
	// Live counts the requests in flight, from the moment their model is
	// known until they are answered; nil counts nothing.
	Live InFlight
	// Refusals is told the limit of every request the Limiter refused;
	// nil: nobody is.
	Refusals Refusals
	// Alerts is told of what operators should hear of (a prepaid group's
	// balance running low); nil: only the server log is.
	Alerts Alerts

	clients   sync.Map // channel ID → *channelClient: a connection pool per channel
	chain     Handler
	claimants map[string][]claimant // by path prefix
	idPrefix  string
	counter   atomic.Uint64

	limiterWarned atomic.Int64 // unix nanos of the last limiter warning
	lowWarned     sync.Map     // group id → time of its last low-balance warning
}

// RoutedIngress is an Ingress with the endpoints it serves.
type RoutedIngress struct {
	Ingress Ingress
	Routes  []Route
}

// RouteKind is what an endpoint does.
type RouteKind uint8

// Route kinds.
const (
	// RouteCall relays a request to a model (Route.Mode, Route.Op; the
	// Ingress's Parse may set the Op from the path).
	RouteCall RouteKind = iota
	// RouteModels lists the models the key may use.
	RouteModels
	// RouteModel describes one model, named by the pattern's "*".
	RouteModel
)

// Route is one endpoint of an Ingress.
type Route struct {
	Method  string
	Pattern string // a chi pattern
	Kind    RouteKind
	Mode    aiproxy.Mode
	Op      Op
	// Claims, on a pattern several ingresses serve, reports whether the
	// request is this ingress's (by its headers, say). Nil claims every
	// request.
	Claims func(r *http.Request) bool
}

// Mount builds the chain and registers every route of the Ingresses on
// r, and for other paths under their prefixes (/v1, /v1beta) a 404 in the
// protocol the request speaks.
func (s *Server) Mount(r chi.Router) {
	var b [6]byte
	rand.Read(b[:])
	s.idPrefix = hex.EncodeToString(b[:])
	if s.Client == nil {
		s.Client = &http.Client{Transport: NewTransport(TransportOptions{})}
	}
	s.chain = s.buildChain()
	s.claimants = map[string][]claimant{}

	// Routes are registered on r itself rather than on a sub-router: every
	// router layer deepens the stack each held stream keeps.
	rr := r.With(recoverer(s))
	type shared struct {
		method, pattern string
		handlers        []http.HandlerFunc
		claims          []func(*http.Request) bool
	}
	var order []*shared
	byKey := map[string]*shared{}
	var patterns []string
	for _, ri := range s.Ingresses {
		cl := claimant{in: ri.Ingress}
		for _, rt := range ri.Routes {
			if cl.claims == nil {
				cl.claims = rt.Claims
			}
		}
		seen := map[string]bool{}
		for _, rt := range ri.Routes {
			key := rt.Method + " " + rt.Pattern
			sh := byKey[key]
			if sh == nil {
				sh = &shared{method: rt.Method, pattern: rt.Pattern}
				byKey[key] = sh
				order = append(order, sh)
				patterns = append(patterns, rt.Pattern)
			}
			sh.handlers = append(sh.handlers, s.handler(ri.Ingress, rt))
			sh.claims = append(sh.claims, rt.Claims)
			if p := prefixOf(rt.Pattern); !seen[p] {
				seen[p] = true
				s.claimants[p] = append(s.claimants[p], cl)
			}
		}
	}
	for _, p := range patterns {
		rr.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, nil, s.ingressOf(r), aiproxy.ReasonErrorf(aiproxy.EINVALID, "method_not_allowed", "Method %s is not allowed for %s.", r.Method, r.URL.Path), http.StatusMethodNotAllowed)
		})
	}
	for _, sh := range order {
		hs, cs := sh.handlers, sh.claims
		if len(hs) == 1 {
			rr.Method(sh.method, sh.pattern, hs[0])
			continue
		}
		rr.Method(sh.method, sh.pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for i, c := range cs {
				if c == nil || c(r) || i == len(cs)-1 {
					hs[i](w, r)
					return
				}
			}
		}))
	}
	for p := range s.claimants {
		rr.HandleFunc(p+"/*", func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, nil, s.ingressOf(r), aiproxy.ReasonErrorf(aiproxy.ENOTFOUND, "unknown_url", "Unknown request URL: %s %s.", r.Method, r.URL.Path), 0)
		})
	}
}

// claimant is an Ingress serving routes under one path prefix, with the
// claim that tells its requests on routes it shares (nil: every request).
type claimant struct {
	in     Ingress
	claims func(*http.Request) bool
}

// prefixOf returns a pattern's first path segment, such as "/v1".
func prefixOf(pattern string) string {
	if i := strings.IndexByte(pattern[1:], '/'); i >= 0 {
		return pattern[:i+1]
	}
	return pattern
}

// ingressOf returns the Ingress whose protocol a request no route served
// speaks (so that even its 404 is in its protocol): among the ingresses
// with routes under the request's prefix, the only one, or the first
// whose claim accepts the request; else the fallback.
func (s *Server) ingressOf(r *http.Request) Ingress {
	cs := s.claimants[prefixOf(r.URL.Path)]
	if len(cs) == 1 {
		return cs[0].in
	}
	for _, c := range cs {
		if c.claims != nil && c.claims(r) {
			return c.in
		}
	}
	return s.fallbackIngress()
}

// fallbackIngress is the Ingress that answers requests no route or claim
// tells apart: the OpenAI one when there is one.
func (s *Server) fallbackIngress() Ingress {
	for _, ri := range s.Ingresses {
		if ri.Ingress.Protocol() == aiproxy.ProtocolOpenAI {
			return ri.Ingress
		}
	}
	return s.Ingresses[0].Ingress
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// recoverer turns a panic into a 500.
func recoverer(s *Server) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					s.logger().Error("relay: panic", "path", r.URL.Path, "panic", v)
					s.writeError(w, nil, s.ingressOf(r), errors.New("panic"), 0)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// requestID returns a new id: a per-process random prefix and a counter.
func (s *Server) requestID() string {
	return "req_" + s.idPrefix + strconv.FormatUint(s.counter.Add(1), 36)
}

// clientIP returns the address of the client that sent r (ClientIP with
// the server's TrustedProxies).
func (s *Server) clientIP(r *http.Request) netip.Addr { return ClientIP(r, s.TrustedProxies) }

// ClientIP returns the address of the client that sent r: the peer's,
// or, when the peer is in trusted (proxies whose X-Forwarded-For is
// believed), the rightmost address of X-Forwarded-For not in trusted. A
// malformed hop ends the search. The zero Addr when r.RemoteAddr is not
// an address.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if len(trusted) == 0 || !inPrefixes(trusted, ip) {
		return ip
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			var part string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				part, v = v[j+1:], v[:j]
			} else {
				part, v = v, ""
			}
			a, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil {
				return ip // a malformed hop: believe nothing beyond it
			}
			ip = a.Unmap()
			if !inPrefixes(trusted, ip) {
				return ip
			}
		}
	}
	return ip
}

func inPrefixes(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// handler returns the HTTP handler of one route of in.
func (s *Server) handler(in Ingress, rt Route) http.HandlerFunc {
	switch rt.Kind {
	case RouteModels:
		return func(w http.ResponseWriter, r *http.Request) { s.serveModels(w, r, in, "") }
	case RouteModel:
		return func(w http.ResponseWriter, r *http.Request) { s.serveModels(w, r, in, modelParam(r)) }
	}
	return func(w http.ResponseWriter, r *http.Request) { s.serveCall(w, r, in, rt) }
}

// newRequest starts the Request of r.
func (s *Server) newRequest(r *http.Request, in Ingress, rt Route) *Request {
	now := time.Now()
	req := &Request{
		ID:       s.requestID(),
		Ingress:  in,
		Protocol: in.Protocol(),
		Mode:     rt.Mode,
		Op:       rt.Op,
		Path:     r.URL.Path,
		Header:   r.Header,
		ClientIP: s.clientIP(r),
		Received: now,

		saveBodies: s.SaveBodies,
	}
	if r.URL.RawQuery != "" {
		req.Query = r.URL.Query() // parsed only when there is one: most requests have none
	}
	req.Log = &aiproxy.Log{
		RequestID:      req.ID,
		CreatedAt:      now.UTC(),
		Endpoint:       r.URL.Path,
		Mode:           rt.Mode,
		ClientIP:       req.ClientIP.String(),
		ClientProtocol: req.Protocol,
	}
	return req
}

// authenticate resolves the request's key to its token and applies every
// rule that does not depend on the model. Its failures are not logged:
// there is no group to log them for.
func (s *Server) authenticate(r *http.Request, req *Request) error {
	key := req.Ingress.Key(r)
	if key == "" {
		return aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "You didn't provide an API key.")
	}
	tok, grp, err := s.Keys.TokenByKey(r.Context(), key)
	if err != nil {
		if aiproxy.ErrorCode(err) == aiproxy.EINTERNAL {
			s.logger().Error("relay: look up token", "err", err)
		}
		return err
	}
	if err := tok.Authorize(grp, req.ClientIP, "", req.Received); err != nil {
		return err
	}
	if s.IPGuard.Banned(req.ClientIP, req.Received) {
		return aiproxy.ReasonErrorf(aiproxy.EFORBIDDEN, "ip_banned", "Requests from %s are refused for now: the address was used by too many groups.", req.ClientIP)
	}
	s.IPGuard.Seen(req.ClientIP, tok.GroupID)
	req.Token, req.Group = tok, grp
	l := req.Log
	l.TokenID, l.TokenName, l.GroupID = tok.ID, tok.Name, tok.GroupID
	if grp != nil {
		l.GroupID = grp.ID
	}
	return nil
}

// serveCall serves a request to a model: front, chain, answer.
func (s *Server) serveCall(w http.ResponseWriter, r *http.Request, in Ingress, rt Route) {
	req := s.newRequest(r, in, rt)
	w.Header().Set("X-Request-Id", req.ID)
	if err := s.authenticate(r, req); err != nil {
		s.writeError(w, req, in, err, 0)
		return
	}
	defer s.record(req)
	if err := s.readBody(r, req); err != nil {
		s.writeError(w, req, in, err, 0)
		return
	}
	if err := in.Parse(req); err != nil {
		s.writeError(w, req, in, err, 0)
		return
	}
	l := req.Log
	l.Model, l.Stream, l.Mode = req.Model, req.Stream, req.Mode
	l.User, l.Metadata = req.User, req.Metadata
	if req.Model == "" {
		s.writeError(w, req, in, aiproxy.FieldErrorf("model", "You must provide a model parameter."), 0)
		return
	}
	if s.Live != nil {
		defer s.Live.Start(l.GroupID, req.Model, req.Stream)()
	}
	resp, err := s.chain.Serve(r.Context(), req)
	if err != nil {
		if r.Context().Err() != nil {
			l.StatusCode, l.Error = StatusClientClosed, "client disconnected"
			return
		}
		s.writeError(w, req, in, err, 0)
		return
	}
	s.writeResponse(w, r, req, resp)
}

// readBody reads the request body, up to the limit.
func (s *Server) readBody(r *http.Request, req *Request) error {
	limit := s.MaxBodyBytes
	if limit <= 0 {
		limit = 32 << 20
	}
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
	req.Body = body
	return nil
}

// clip returns a copy of b cut to at most MaxSavedBody bytes (at a
// character boundary), and whether it was cut.
func (s *Server) clip(b []byte) (string, bool) {
	max := s.maxSaved()
	if len(b) <= max {
		return string(b), false
	}
	n := max
	for n > 0 && n > max-utf8.UTFMax && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]), true
}

func (s *Server) maxSaved() int {
	if s.MaxSavedBody <= 0 {
		return 64 << 10
	}
	return s.MaxSavedBody
}

// record completes the request's log entry and hands it to the recorder.
// It runs deferred, once the answer is written and flushed (a stream
// closed), so a request whose client went away is recorded too, and the
// client never waits for it. The bodies are kept (copied and cut, so the
// queued log holds none of the request's memory) when the request
// failed, detailed logging is on or the model's config asks for it.
func (s *Server) record(req *Request) {
	if req.accounted {
		s.settle(req)
	}
	if req.unlogged {
		return
	}
	l := req.Log
	l.Latency = time.Since(req.Received)
	if l.StatusCode == 0 {
		l.StatusCode = http.StatusInternalServerError
	}
	if req.saveBodies || l.Error != "" || l.StatusCode >= 400 {
		if l.RequestBody == "" {
			l.RequestBody, l.RequestBodyTruncated = s.clip(req.Body)
		}
		if resp := req.answer; l.ResponseBody == "" && resp != nil {
			if resp.Stream != nil {
				l.ResponseBody, l.ResponseBodyTruncated = s.clip(resp.saved)
			} else {
				l.ResponseBody, l.ResponseBodyTruncated = s.clip(resp.Body)
			}
		}
	} else {
		// A body set along the way (an error answer) is not kept.
		l.RequestBody, l.ResponseBody = "", ""
		l.RequestBodyTruncated, l.ResponseBodyTruncated = false, false
	}
	s.Logs.Record(l)
}

// modelParam returns the model named by a route's "*", unescaped.
func modelParam(r *http.Request) string {
	p := chi.URLParam(r, "*")
	if m, err := unescapePath(p); err == nil {
		return m
	}
	return p
}

func unescapePath(p string) (string, error) {
	if !strings.Contains(p, "%") {
		return p, nil
	}
	return url.PathUnescape(p)
}
