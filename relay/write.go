package relay

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aiproxy/aiproxy"
)

// StatusClientClosed is logged for requests whose client went away before
// the answer was complete (nginx's convention; never sent to a client).
const StatusClientClosed = 499

// writeResponse writes an answer: a body, a token count or a stream.
func (s *Server) writeResponse(w http.ResponseWriter, r *http.Request, req *Request, resp *Response) {
	hd := w.Header()
	for k, v := range resp.Header {
		hd[k] = v
	}
	rateHeaders(hd, req)
	if resp.Stream != nil {
		s.writeStream(w, r, req, resp)
		return
	}
	body, ct := resp.Body, resp.ContentType
	if req.Op == OpCountTokens {
		body, ct = req.Ingress.AppendTokenCount(nil, resp.TokenCount), ""
	}
	if ct == "" {
		ct = "application/json"
	}
	st := resp.Status
	if st == 0 {
		st = http.StatusOK
	}
	hd.Set("Content-Type", ct)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(st)
	w.Write(body)
	// Complete at the client before the deferred record and settlement
	// run: Content-Length is met, so the flush ends the answer.
	http.NewResponseController(w).Flush()
	req.Log.StatusCode = st
}

// writeStream passes a stream on to the client chunk by chunk, each
// flushed at once. It returns when the stream ends, fails, or the client
// goes away, and closes the stream in every case.
func (s *Server) writeStream(w http.ResponseWriter, r *http.Request, req *Request, resp *Response) {
	st := resp.Stream
	defer st.Close()
	fr := req.Ingress.NewFramer(req)
	hd := w.Header()
	hd.Set("Content-Type", fr.ContentType())
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	req.Log.StatusCode = http.StatusOK
	rc := http.NewResponseController(w)
	rc.Flush()

	buf := make([]byte, 0, 1024)
	for {
		c, err := st.Next()
		if err != nil {
			if err == io.EOF {
				buf = fr.End(buf[:0])
				if len(buf) > 0 {
					w.Write(buf)
					rc.Flush()
				}
				if req.Log.Error != "" {
					// The provider's in-stream error passed through: the
					// client was told in its protocol; the log says the
					// request failed.
					req.Log.StatusCode = http.StatusBadGateway
				}
				return
			}
			s.streamFailed(w, r, req, fr, err)
			return
		}
		buf = fr.Frame(buf[:0], c)
		if len(buf) == 0 {
			continue
		}
		w.Write(buf)
		if err := rc.Flush(); err != nil {
			s.streamFailed(w, r, req, fr, err)
			return
		}
	}
}

// streamFailed records why a stream ended early and, when the client is
// still there, tells it in the protocol's in-stream error event.
func (s *Server) streamFailed(w http.ResponseWriter, r *http.Request, req *Request, fr Framer, err error) {
	l := req.Log
	if r.Context().Err() != nil {
		if l.Error != "" {
			// The client left after the provider's in-stream error.
			l.StatusCode = http.StatusBadGateway
			return
		}
		l.StatusCode, l.Error = StatusClientClosed, "client disconnected"
		return
	}
	f := &Failure{Code: aiproxy.EUPSTREAM, Message: "The provider's stream broke off."}
	var ue *UpstreamError
	if errors.As(err, &ue) {
		switch {
		case ue.Timeout:
			f = &Failure{Code: aiproxy.ETIMEOUT, Message: "The provider's stream went idle."}
		case ue.Status >= 400:
			// An error the provider reported inside a converted stream.
			f = s.failure(req, ue)
		}
		l.Error = ue.Error()
	} else {
		l.Error = err.Error()
	}
	st, _ := req.Ingress.Error(f)
	l.StatusCode = st
	if f.Status != 0 {
		l.StatusCode = f.Status
	}
	w.Write(fr.Error(nil, f))
	http.NewResponseController(w).Flush()
}

// writeError answers with err in in's protocol and records it in the log
// entry when there is one. status, when not 0, overrides the status.
func (s *Server) writeError(w http.ResponseWriter, req *Request, in Ingress, err error, status int) {
	f := s.failure(req, err)
	if status != 0 {
		f.Status = status
	}
	st, body := in.Error(f)
	hd := w.Header()
	if req != nil {
		rateHeaders(hd, req)
	}
	if f.RetryAfter > 0 {
		hd.Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(st)
	w.Write(body)
	http.NewResponseController(w).Flush() // before the deferred record
	if req != nil && req.Log != nil {
		req.Log.StatusCode = st
		req.Log.ResponseBody, req.Log.ResponseBodyTruncated = s.clip(body)
		req.Log.Error = f.Message
		var ue *UpstreamError
		if errors.As(err, &ue) {
			req.Log.Error = ue.Error()
		}
	}
}

// failure describes err as the client is told of it. A provider's error
// the client caused is passed on with its status and message (and its
// body, when the client speaks the provider's protocol); other provider
// failures become the gateway's own.
func (s *Server) failure(req *Request, err error) *Failure {
	var ue *UpstreamError
	if !errors.As(err, &ue) {
		if aiproxy.ErrorCode(err) == aiproxy.EINTERNAL {
			s.logger().Error("relay: internal error", "err", err)
		}
		f := &Failure{
			Code:    aiproxy.ErrorCode(err),
			Reason:  aiproxy.ErrorReason(err),
			Message: aiproxy.ErrorMessage(err),
			Field:   aiproxy.ErrorField(err),
		}
		var e *aiproxy.Error
		if errors.As(err, &e) {
			f.RetryAfter = e.RetryAfter
		}
		return f
	}
	model := ""
	if req != nil {
		model = req.Model
	}
	switch {
	case ue.ClientFault():
		f := &Failure{Status: ue.Status, Code: CodeForStatus(ue.Status), Message: ue.Message, Type: ue.Type}
		if req != nil && ue.Protocol == req.Protocol {
			f.Body = ue.Body
		}
		return f
	case ue.Status == http.StatusTooManyRequests:
		return &Failure{Code: aiproxy.ERATELIMITED, RetryAfter: ue.RetryAfter,
			Message: fmt.Sprintf("The provider is rate limiting requests for `%s`; retry later.", model)}
	case ue.Timeout:
		return &Failure{Code: aiproxy.ETIMEOUT, Message: "The provider did not answer in time."}
	case ue.Status == 0:
		return &Failure{Code: aiproxy.EUPSTREAM, Message: "The provider could not be reached."}
	case ue.Status == http.StatusServiceUnavailable || ue.Status == 529:
		return &Failure{Code: aiproxy.EUNAVAILABLE, RetryAfter: ue.RetryAfter, Message: "The provider is overloaded; retry later."}
	}
	return &Failure{Code: aiproxy.EUPSTREAM, Message: fmt.Sprintf("The provider failed with status %d.", ue.Status)}
}

// HTTPStatus returns the HTTP status of an answer carrying err, by its
// code: 400 EINVALID, 401 EUNAUTHORIZED, 403 EFORBIDDEN, 404 ENOTFOUND,
// 409 ECONFLICT, 413 ETOOLARGE, 429 ERATELIMITED and EQUOTA, 502
// EUPSTREAM, 504 ETIMEOUT, 503 EUNAVAILABLE, 500 anything else; 200 for
// nil. The edges that are not a provider protocol (MCP, the admin pages)
// use it; the ingresses have their own tables, with their error types.
func HTTPStatus(err error) int {
	switch aiproxy.ErrorCode(err) {
	case "":
		return http.StatusOK
	case aiproxy.EINVALID:
		return http.StatusBadRequest
	case aiproxy.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case aiproxy.EFORBIDDEN:
		return http.StatusForbidden
	case aiproxy.ENOTFOUND:
		return http.StatusNotFound
	case aiproxy.ECONFLICT:
		return http.StatusConflict
	case aiproxy.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case aiproxy.ERATELIMITED, aiproxy.EQUOTA:
		return http.StatusTooManyRequests
	case aiproxy.EUPSTREAM:
		return http.StatusBadGateway
	case aiproxy.ETIMEOUT:
		return http.StatusGatewayTimeout
	case aiproxy.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// CodeForStatus returns the aiproxy error code of an HTTP error status,
// for errors of providers that are passed on.
func CodeForStatus(st int) string {
	switch {
	case st == http.StatusBadRequest, st == http.StatusUnprocessableEntity:
		return aiproxy.EINVALID
	case st == http.StatusUnauthorized:
		return aiproxy.EUNAUTHORIZED
	case st == http.StatusForbidden:
		return aiproxy.EFORBIDDEN
	case st == http.StatusNotFound:
		return aiproxy.ENOTFOUND
	case st == http.StatusConflict:
		return aiproxy.ECONFLICT
	case st == http.StatusRequestEntityTooLarge:
		return aiproxy.ETOOLARGE
	case st == http.StatusTooManyRequests:
		return aiproxy.ERATELIMITED
	case st == http.StatusRequestTimeout, st == http.StatusGatewayTimeout:
		return aiproxy.ETIMEOUT
	case st == http.StatusServiceUnavailable, st == 529:
		return aiproxy.EUNAVAILABLE
	case st >= 500:
		return aiproxy.EUPSTREAM
	case st >= 400:
		return aiproxy.EINVALID
	}
	return aiproxy.EINTERNAL
}

// ErrorKind is how one protocol reports one error code.
type ErrorKind struct {
	Status int    // the HTTP status
	Type   string // the protocol's error type or status name
	Code   string // a machine-readable code, for protocols that have one
}

// ErrorTable maps aiproxy error codes to a protocol's errors. Each
// Ingress has one, so that every error code has one status per protocol.
type ErrorTable map[string]ErrorKind

// Kind returns the entry for f: by f.Code (EINTERNAL's when unknown), with
// f.Status, when set, as the status.
func (t ErrorTable) Kind(f *Failure) ErrorKind {
	k, ok := t[f.Code]
	if !ok {
		k = t[aiproxy.EINTERNAL]
	}
	if f.Status != 0 {
		k.Status = f.Status
	}
	return k
}
