package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

var (
	sseData = []byte("data: ")
	sseEnd  = []byte("\n\n")
	sseDone = []byte("data: [DONE]\n\n")
	errIdle = errors.New("relay: stream idle timeout")
)

// stream passes a streaming answer on to the client event by event,
// flushing each one. It returns when the provider ends the stream, fails,
// goes idle, or the client goes away; cancel aborts the upstream request.
func (h *Handler) stream(ctx context.Context, cancel context.CancelCauseFunc, x *exchange, call *Call, ad Adaptor, resp *http.Response) {
	x.answered = true
	st, err := ad.Stream(call, resp)
	if err != nil {
		resp.Body.Close()
		x.fail(transportError(err))
		return
	}
	defer st.Close()

	idle := h.StreamIdleTimeout
	if idle <= 0 {
		idle = 5 * time.Minute
	}
	timer := time.AfterFunc(idle, func() { cancel(errIdle) })
	defer timer.Stop()

	hd := x.w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	x.w.WriteHeader(http.StatusOK)
	x.log.StatusCode = http.StatusOK
	rc := http.NewResponseController(x.w)
	rc.Flush()

	w := x.w
	first := true
	for {
		c, err := st.Next()
		if err != nil {
			if err == io.EOF {
				return
			}
			if errors.Is(context.Cause(ctx), errIdle) {
				err = errIdle
			}
			h.streamFailed(x, err)
			return
		}
		timer.Reset(idle)
		if first {
			x.log.TTFB = time.Since(x.start)
			first = false
		}
		if c.Usage != nil {
			u := *c.Usage
			x.usage = &u
			x.text = nil
		} else if x.usage == nil && len(c.Text) > 0 {
			x.text = append(x.text, c.Text...)
		}
		if h.SaveBodies && len(c.Text) > 0 && len(x.respBody) < h.maxSaved() {
			x.respBody = append(x.respBody, c.Text...)
		}
		if c.Error != "" {
			x.log.Error = c.Error
		}
		switch {
		case c.Done:
			w.Write(sseDone)
		case c.Data != nil:
			if c.UsageOnly && !x.wantsUse {
				continue
			}
			w.Write(sseData)
			w.Write(c.Data)
			w.Write(sseEnd)
		case c.Comment != nil:
			w.Write(c.Comment)
			w.Write(sseEnd)
		default:
			continue
		}
		if err := rc.Flush(); err != nil {
			h.streamFailed(x, err)
			return
		}
	}
}

// streamFailed records why a stream ended early and, when the client is
// still there, tells it in an error event.
func (h *Handler) streamFailed(x *exchange, err error) {
	if x.r.Context().Err() != nil {
		x.log.StatusCode = StatusClientClosed
		x.log.Error = "client disconnected"
		return
	}
	ue := transportError(err).(*UpstreamError)
	msg := "The provider's stream broke off."
	x.log.StatusCode = http.StatusBadGateway
	if ue.Code == "timeout" {
		msg = "The provider's stream went idle."
		x.log.StatusCode = http.StatusGatewayTimeout
	}
	x.log.Error = ue.Error()
	x.w.Write(sseData)
	x.w.Write(appendError(nil, x.log.StatusCode, msg, "", "upstream_error"))
	x.w.Write(sseEnd)
	http.NewResponseController(x.w).Flush()
}

func (h *Handler) maxSaved() int {
	if h.MaxSavedBody <= 0 {
		return 1 << 20
	}
	return h.MaxSavedBody
}
