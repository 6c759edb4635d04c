package relay

import (
	"context"

	"github.com/aiproxy/aiproxy"
)

// buildChain returns the handlers every relayed request goes through,
// outermost first: authorize the model, account for usage, the
// configured middleware, and the channel loop.
func (s *Server) buildChain() Handler {
	var h Handler = HandlerFunc(s.route)
	for i := len(s.Middleware) - 1; i >= 0; i-- {
		h = s.Middleware[i](h)
	}
	h = s.account(h)
	return s.authorize(h)
}

// authorize applies the token's rules with the model known. A model that
// does not exist is reported as such, allowed or not.
func (s *Server) authorize(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
		if err := req.Token.Authorize(req.Group, req.ClientIP, req.Model, req.Received); err != nil {
			if aiproxy.ErrorReason(err) == aiproxy.ReasonModelNotAllowed && len(s.Catalog.Channels(req.Model)) == 0 {
				return nil, errNoModel(req.Model)
			}
			return nil, err
		}
		return next.Serve(ctx, req)
	})
}

// account settles what a request used once its answer is complete: the
// usage the provider reported (or the tokenizer's count when it reported
// none), and its cost. For a stream that is when the stream is closed,
// whether it ran to its end or the client went away. It is the one place
// where usage becomes money; limits and billing settle here too.
func (s *Server) account(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
		resp, err := next.Serve(ctx, req)
		if err != nil || resp == nil {
			return resp, err
		}
		if resp.Stream != nil {
			resp.Stream = &settling{Stream: resp.Stream, settle: func() { s.settle(context.WithoutCancel(ctx), req, resp) }}
			return resp, nil
		}
		s.settle(context.WithoutCancel(ctx), req, resp)
		return resp, nil
	})
}

// settle completes the log entry's usage and cost from resp.
func (s *Server) settle(_ context.Context, req *Request, resp *Response) {
	l := req.Log
	if resp.Usage != nil {
		l.Usage = *resp.Usage
	} else {
		l.Usage = s.countUsage(req, resp.Text)
		l.UsageCounted = true
	}
	if l.Usage.TotalTokens == 0 {
		l.Usage.TotalTokens = l.Usage.PromptTokens + l.Usage.CompletionTokens
	}
	if s.SaveBodies && l.ResponseBody == "" {
		if resp.Stream != nil {
			l.ResponseBody = s.clip(resp.saved)
		} else {
			l.ResponseBody = s.clip(resp.Body)
		}
	}
	if mc, ok := s.Catalog.ModelConfig(l.Model); ok {
		l.Amount = mc.Cost(l.Usage)
	} else {
		l.Unpriced = true
	}
}

// settling calls settle once, when the stream is closed.
type settling struct {
	Stream
	settle func()
	done   bool
}

func (st *settling) Close() error {
	err := st.Stream.Close()
	if !st.done {
		st.done = true
		st.settle()
	}
	return err
}

var _ Stream = (*settling)(nil)

// countUsage estimates the usage of a request whose provider reported
// none: the prompt from the request, the completion from text.
func (s *Server) countUsage(req *Request, text []byte) aiproxy.Usage {
	model := req.Log.UpstreamModel
	if model == "" {
		model = req.Model
	}
	if req.Protocol == aiproxy.ProtocolOpenAI || req.Mode != aiproxy.ModeChat {
		return countUsage(req.Mode, model, req.Body, text)
	}
	u := aiproxy.Usage{CompletionTokens: countText(model, text)}
	if c, err := req.Chat(); err == nil {
		u.PromptTokens = countChat(model, c)
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

func errNoModel(model string) error {
	return aiproxy.ReasonErrorf(aiproxy.ENOTFOUND, "model_not_found", "The model `%s` does not exist or you do not have access to it.", model)
}
