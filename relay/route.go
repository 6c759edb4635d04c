package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay/chat"
)

// errIdle ends a stream whose provider went silent.
var errIdle = errors.New("relay: stream idle timeout")

// errAttemptTimeout ends an attempt that ran past its mode's timeout, or a
// stream whose first event did not come in time.
var errAttemptTimeout = errors.New("relay: attempt timeout")

// route is the innermost handler: it picks channels for the model and
// tries them in turn until one answers, recording every Attempt. Another
// channel is tried only when the failure was not the client's fault.
// The answer is in the client's protocol.
func (s *Server) route(ctx context.Context, req *Request) (*Response, error) {
	all := s.Catalog.Channels(req.Model)
	if len(all) == 0 {
		return nil, errNoModel(req.Model)
	}
	if all = groupChannels(all, req.Group); len(all) == 0 {
		// The model exists, but in no channel set of the group's.
		return nil, errNoModel(req.Model)
	}
	chs := make([]*aiproxy.Channel, 0, len(all))
	for _, c := range all {
		if p := s.Providers[c.Type]; p != nil && p.Adaptor.Supports(req.Mode, req.Op) {
			chs = append(chs, c)
		}
	}
	if len(chs) == 0 {
		if req.Op == OpCountTokens {
			return s.countLocally(req)
		}
		return nil, aiproxy.ReasonErrorf(aiproxy.ENOTFOUND, "model_not_found", "The model `%s` is not available for %s requests.", req.Model, req.Mode)
	}
	attempts := s.MaxAttempts
	if attempts <= 0 {
		attempts = 3
	}
	if req.Effective.MaxAttempts > 0 {
		attempts = req.Effective.MaxAttempts
	}
	var tried [8]int64
	pk := picker{chs: chs, model: req.Model, health: s.Health, tried: tried[:0]}
	var lastErr, limited error // limited: the soonest-free 429 among the failures
	var limitedAfter time.Duration
	sameAgain := false
	for n := 0; n < attempts; n++ {
		ch := pk.next(time.Now())
		if ch == nil {
			break
		}
		pk.tried = append(pk.tried, ch.ID)
		resp, err := s.attempt(ctx, req, ch)
		var ue *UpstreamError
		if err != nil && errors.As(err, &ue) && ue.RetrySame && !sameAgain {
			sameAgain = true
			resp, err = s.attempt(ctx, req, ch)
		}
		s.report(ctx, ch, req.Model, err)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if ctx.Err() != nil || !retryable(err) {
			return nil, err
		}
		if errors.As(err, &ue) && ue.Status == http.StatusTooManyRequests && (limited == nil || ue.RetryAfter < limitedAfter) {
			limited, limitedAfter = err, ue.RetryAfter
		}
		s.logger().Warn("relay: channel failed", "request_id", req.ID, "channel", ch.ID, "model", req.Model, "err", err)
	}
	return nil, s.noChannel(req, &pk, lastErr, limited)
}

// noChannel is the failure of a request no channel answered: a 429 when a
// channel refused it for its rate limit or one is parked (Retry-After: the
// soonest any frees up), else the last channel's failure, else why every
// channel was skipped.
func (s *Server) noChannel(req *Request, pk *picker, lastErr, limited error) error {
	now := time.Now()
	if limited != nil || pk.parkedUntil.After(now) {
		var ue *UpstreamError
		if limited == nil || !errors.As(limited, &ue) {
			ue = &UpstreamError{Status: http.StatusTooManyRequests, Message: fmt.Sprintf("Every channel of the model `%s` is rate limited.", req.Model)}
		} else {
			ue = ue.clone()
		}
		if wait := pk.parkedUntil.Sub(now); pk.parkedUntil.After(now) && (ue.RetryAfter <= 0 || wait < ue.RetryAfter) {
			ue.RetryAfter = wait
		}
		return ue
	}
	if lastErr != nil {
		return lastErr
	}
	if pk.openUntil.After(now) {
		return &UpstreamError{Status: http.StatusServiceUnavailable, RetryAfter: pk.openUntil.Sub(now),
			Message: fmt.Sprintf("Every channel of the model `%s` is failing; the gateway tries again shortly.", req.Model)}
	}
	return aiproxy.Errorf(aiproxy.EUNAVAILABLE, "No channel is available for the model `%s`.", req.Model)
}

// report tells Health how an attempt on ch went. A failure the client
// caused, or a client that left, says nothing of the channel and is not
// reported; nor is a request the channel's protocol cannot express.
func (s *Server) report(ctx context.Context, ch *aiproxy.Channel, model string, err error) {
	if s.Health == nil || ctx.Err() != nil {
		return
	}
	o := aiproxy.Outcome{At: time.Now()}
	if err != nil {
		var ue *UpstreamError
		if !errors.As(err, &ue) || ue.ClientFault() {
			return
		}
		o.Failed, o.Status, o.Error = true, ue.Status, ue.Error()
		switch {
		case ue.Status == http.StatusUnauthorized || ue.Status == http.StatusForbidden || ue.Status == http.StatusPaymentRequired ||
			strings.Contains(ue.Type, "insufficient_quota") || strings.Contains(ue.Message, "insufficient_quota"):
			o.Fatal = true
		case ue.Status == http.StatusTooManyRequests || ue.Status == http.StatusServiceUnavailable:
			o.RetryAfter = ue.RetryAfter
		}
	}
	p := s.Breaker
	if ch.BreakerThreshold > 0 {
		p.Threshold = ch.BreakerThreshold
	}
	s.Health.Report(ch.ID, model, o, p)
}

// attemptLimit is how long an attempt for req may take: to the whole
// answer (Timeouts by mode), or for a stream to its first event
// (FirstEventTimeout); the model's own limit when its config sets one. 0
// means no limit of its own.
func (s *Server) attemptLimit(req *Request, stream bool) time.Duration {
	e := &req.Effective
	if stream {
		if e.FirstEventTimeout > 0 {
			return e.FirstEventTimeout
		}
		return s.FirstEventTimeout
	}
	if e.Timeout > 0 {
		return e.Timeout
	}
	return s.Timeouts[req.Mode]
}

// retryable reports whether another channel may succeed where err failed:
// a transport failure, a timeout, 429, 5xx, or a 401, 402, 403 or 404
// meaning the channel cannot serve; not a failure the client caused
// (400, 413, 422, a content-policy refusal), which goes back at once.
func retryable(err error) bool {
	var ue *UpstreamError
	if errors.As(err, &ue) {
		return !ue.ClientFault()
	}
	// A request one channel's protocol cannot express may suit another.
	return aiproxy.ErrorCode(err) == aiproxy.EINVALID || aiproxy.ErrorCode(err) == aiproxy.EINTERNAL
}

// attempt sends the request to one channel and returns its answer in the
// client's protocol. A returned stream owns the upstream request: closing
// it cancels the request.
func (s *Server) attempt(ctx context.Context, req *Request, ch *aiproxy.Channel) (resp *Response, err error) {
	p := s.Providers[ch.Type]
	ad := p.Adaptor
	format := ad.Format()
	call := &Call{
		Request:       req,
		Op:            req.Op,
		Mode:          req.Mode,
		Channel:       ch,
		BaseURL:       s.Providers.BaseURL(ch),
		Model:         req.Model,
		UpstreamModel: ch.UpstreamModel(req.Model),
		Stream:        req.Stream && req.Op == OpGenerate,
	}
	l := req.Log
	l.ChannelID, l.UpstreamModel, l.ChannelProtocol = ch.ID, call.UpstreamModel, format.Protocol()
	l.UpstreamRequestID = "" // an earlier attempt's
	at := Attempt{ChannelID: ch.ID, ChannelType: ch.Type, UpstreamModel: call.UpstreamModel, Start: time.Now()}
	defer func() {
		at.Err = err
		at.Duration = time.Since(at.Start)
		req.Attempts = append(req.Attempts, at)
		la := aiproxy.LogAttempt{ChannelID: ch.ID, Status: at.Status, Latency: at.Duration}
		if err != nil {
			la.Error = err.Error()
		}
		l.Attempts = append(l.Attempts, la)
	}()

	if call.Body, call.Converted, err = s.upstreamBody(req, call, format); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	// The attempt's deadline: the mode's timeout for a whole answer, the
	// first event's for a stream (then the idle timeout, in guard).
	var timer *time.Timer
	if limit := s.attemptLimit(req, call.Stream); limit > 0 {
		timer = time.AfterFunc(limit, func() { cancel(errAttemptTimeout) })
	}
	defer func() {
		if timer != nil && (err != nil || !call.Stream) {
			timer.Stop()
		}
	}()
	hreq, err := ad.Request(ctx, call)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	for _, h := range ch.Headers {
		hreq.Header.Set(h.Name, h.Value)
	}
	hresp, err := s.clientFor(ch).Do(hreq)
	if err != nil {
		if errors.Is(context.Cause(ctx), errAttemptTimeout) {
			err = errAttemptTimeout
		}
		cancel(nil)
		return nil, transportError(err)
	}
	at.Status = hresp.StatusCode
	l.UpstreamRequestID = upstreamRequestID(hresp.Header)
	if hresp.StatusCode >= 400 {
		ue := ad.Error(call, hresp)
		hresp.Body.Close()
		cancel(nil)
		if ue.Protocol == "" {
			ue.Protocol = format.Protocol()
		}
		return nil, ue
	}
	if call.Stream {
		return s.openStream(ctx, cancel, timer, req, call, ad, hresp)
	}
	defer cancel(nil)
	defer hresp.Body.Close()
	resp, err = ad.Response(call, hresp)
	if err != nil {
		if errors.Is(context.Cause(ctx), errAttemptTimeout) {
			return nil, transportError(errAttemptTimeout)
		}
		if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			return nil, transportError(err)
		}
		return nil, err
	}
	l.TTFB = time.Since(req.Received)
	if l.UpstreamRequestID == "" {
		l.UpstreamRequestID = bodyID(resp.Body)
	}
	if req.Op == OpCountTokens {
		resp.Body = nil
		if resp.Usage == nil {
			resp.Usage = &aiproxy.Usage{}
		}
		return resp, nil
	}
	if resp.Status == 0 {
		resp.Status = hresp.StatusCode
	}
	if call.Converted {
		cr, err := format.DecodeResponse(resp.Body)
		if err != nil {
			return nil, &UpstreamError{Status: hresp.StatusCode, Message: fmt.Sprintf("the provider's answer could not be read: %v", aiproxy.ErrorMessage(err))}
		}
		cr.Model = req.Model
		if resp.Usage == nil {
			resp.Usage = cr.Usage
		}
		if resp.Body, err = req.Ingress.EncodeResponse(cr, req); err != nil {
			return nil, err
		}
		resp.ContentType = ""
		resp.Status = http.StatusOK
	} else if call.Mapped() {
		if resp.Body, err = format.SetModel(resp.Body, req.Model); err != nil {
			return nil, fmt.Errorf("relay: rename model: %w", err)
		}
	}
	return resp, nil
}

// upstreamBody returns the body to send on call: the client's own when
// the channel speaks the client's protocol (renamed when the channel maps
// the model), else the request converted through the neutral form.
func (s *Server) upstreamBody(req *Request, call *Call, format Format) ([]byte, bool, error) {
	if format.Protocol() == req.Protocol {
		if !call.Mapped() {
			return req.Body, false, nil
		}
		b, err := format.SetModel(req.Body, call.UpstreamModel)
		if err != nil {
			return nil, false, aiproxy.Errorf(aiproxy.EINVALID, "The request body could not be read: %v.", err)
		}
		return b, false, nil
	}
	key := string(format.Protocol()) + "\x00" + call.UpstreamModel
	if b, ok := req.bodies[key]; ok {
		return b, true, nil
	}
	c, err := req.Chat()
	if err != nil {
		return nil, true, err
	}
	b, err := format.EncodeRequest(c, call)
	if err != nil {
		return nil, true, err
	}
	if req.bodies == nil {
		req.bodies = map[string][]byte{}
	}
	req.bodies[key] = b
	return b, true, nil
}

// openStream starts reading a streaming answer: metered (usage, text,
// first byte), guarded (idle timeout; closing cancels the upstream
// request), and converted or renamed for the client.
func (s *Server) openStream(ctx context.Context, cancel context.CancelCauseFunc, first *time.Timer, req *Request, call *Call, ad Adaptor, hresp *http.Response) (*Response, error) {
	st, err := ad.Stream(call, hresp)
	if err != nil {
		hresp.Body.Close()
		cancel(nil)
		return nil, transportError(err)
	}
	resp := &Response{Status: http.StatusOK}
	idle := s.StreamIdleTimeout
	if idle <= 0 {
		idle = 5 * time.Minute
	}
	g := &guard{Stream: st, ctx: ctx, cancel: cancel, idle: idle, resp: resp, req: req, save: req.saveBodies, maxSaved: s.maxSaved(), events: call.Converted,
		first: first}
	if first == nil { // no first-event limit: the idle timeout applies from the start
		g.timer = time.AfterFunc(idle, func() { cancel(errIdle) })
	}
	var out Stream = g
	format := ad.Format()
	switch {
	case call.Converted:
		out = newConverter(g, format.NewStreamDecoder(), req.Ingress.NewStreamEncoder(req), req.Model, g)
	case call.Mapped():
		out = &renamer{Stream: g, format: format, model: req.Model}
	}
	// The first event is read here, so that a stream that fails before
	// it (a provider that sends headers and then nothing, or an error
	// event) is retried on another channel: nothing has reached the client.
	c, err := out.Next()
	if err != nil && err != io.EOF {
		out.Close()
		return nil, err
	}
	resp.Stream = &peeked{Stream: out, first: c, err: err}
	return resp, nil
}

// peeked is a stream whose first chunk (or end) was read already.
type peeked struct {
	Stream
	first *Chunk
	err   error
	done  bool
}

func (p *peeked) Next() (*Chunk, error) {
	if !p.done {
		p.done = true
		return p.first, p.err
	}
	return p.Stream.Next()
}

// guard is the innermost wrapper of an upstream stream: it ends the
// stream when the provider goes silent, records usage and text on the
// Response as chunks pass (or, for a converted stream, as the converter
// decodes them: events), and cancels the upstream request on Close.
type guard struct {
	Stream
	ctx      context.Context
	cancel   context.CancelCauseFunc
	first    *time.Timer // the first event's deadline, until it came; nil for none
	timer    *time.Timer // the idle timeout, from the first event (or the start, without first)
	idle     time.Duration
	resp     *Response
	req      *Request
	save     bool
	maxSaved int
	started  bool
	events   bool // converted: the converter meters the events
}

func (g *guard) Next() (*Chunk, error) {
	c, err := g.Stream.Next()
	if err != nil {
		if err != io.EOF {
			if c := context.Cause(g.ctx); errors.Is(c, errIdle) || errors.Is(c, errAttemptTimeout) {
				err = c
			}
			var ue *UpstreamError
			if !errors.As(err, &ue) {
				err = transportError(err)
			}
		}
		return nil, err
	}
	if g.first != nil {
		g.first.Stop()
		g.first = nil
	}
	if g.timer == nil {
		g.timer = time.AfterFunc(g.idle, func() { g.cancel(errIdle) })
	} else {
		g.timer.Reset(g.idle)
	}
	if !g.started {
		g.started = true
		g.req.Log.TTFB = time.Since(g.req.Received)
		if g.req.Log.UpstreamRequestID == "" {
			g.req.Log.UpstreamRequestID = bodyID(c.Data)
		}
	}
	if !g.events {
		if c.Usage != nil {
			g.usage(c.Usage)
		}
		meterText(g, c.Text)
		if c.Error != "" {
			g.req.Log.Error = c.Error
		}
	}
	return c, nil
}

// Close ends the stream: its timers stopped, the upstream body closed
// and the upstream request cancelled.
func (g *guard) Close() error {
	if g.first != nil {
		g.first.Stop()
	}
	if g.timer != nil {
		g.timer.Stop()
	}
	err := g.Stream.Close()
	g.cancel(nil)
	return err
}

// usage records the cumulative usage reported so far; the text kept
// for counting is then not needed.
func (g *guard) usage(u *aiproxy.Usage) {
	r := g.resp
	if r.Usage == nil {
		r.Usage = new(aiproxy.Usage)
	}
	*r.Usage = *u
	r.Text = nil
}

// meterText keeps text, generated, for counting while no usage came and
// for the log's saved answer.
func meterText[T string | []byte](g *guard, t T) {
	if len(t) == 0 {
		return
	}
	r := g.resp
	if r.Usage == nil {
		r.Text = append(r.Text, t...)
	}
	if g.save && len(r.saved) < g.maxSaved {
		r.saved = append(r.saved, t...)
	}
}

// meterEvent records what a decoded event of a converted stream reports:
// usage, or generated text (text and thinking, tool names and arguments).
func (g *guard) meterEvent(ev *chat.Event) {
	switch ev.Type {
	case chat.EventUsage:
		if ev.Usage != nil {
			g.usage(ev.Usage)
		}
	case chat.EventDelta:
		meterText(g, ev.Text)
		meterText(g, ev.Arguments)
	case chat.EventBlockStart:
		if ev.Call != nil {
			meterText(g, ev.Call.Name)
		}
	}
}

// renamer passes a stream through with the model named as the client
// asked.
type renamer struct {
	Stream
	format Format
	model  string
}

func (r *renamer) Next() (*Chunk, error) {
	c, err := r.Stream.Next()
	if err != nil || c.Data == nil {
		return c, err
	}
	if c.Data, err = r.format.SetModel(c.Data, r.model); err != nil {
		return nil, &UpstreamError{Status: http.StatusOK, Message: "the provider's stream could not be read: " + err.Error()}
	}
	return c, nil
}

// upstreamRequestID returns the id a provider gave its answer in a
// header: OpenAI's x-request-id, Anthropic's request-id; "" when none.
func upstreamRequestID(h http.Header) string {
	id := h.Get("X-Request-Id")
	if id == "" {
		id = h.Get("Request-Id")
	}
	if len(id) > 128 {
		id = id[:128]
	}
	return id
}

// bodyID returns the id of an answer body or of the first chunk of a
// stream: its top-level "id" (OpenAI's chatcmpl-…, Anthropic's msg_…),
// or Anthropic's message_start's message.id; "" when neither is a short
// string. Both come first in the JSON: only its first KiB is read.
func bodyID(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	b = b[:min(len(b), 1024)]
	id := gjson.GetBytes(b, "id")
	if id.Type != gjson.String {
		id = gjson.GetBytes(b, "message.id")
	}
	if id.Type != gjson.String || len(id.Str) > 128 {
		return ""
	}
	return id.Str
}

// transportError turns a failed round trip into an *UpstreamError.
func transportError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errIdle) || errors.Is(err, errAttemptTimeout) {
		return &UpstreamError{Timeout: true, Message: "timeout: " + err.Error()}
	}
	var ue *UpstreamError
	if errors.As(err, &ue) {
		return ue
	}
	return &UpstreamError{Message: err.Error()}
}
