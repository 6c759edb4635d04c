package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/tidwall/gjson"

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

// authorize applies the token's rules with the model known, and finds
// what applies to the group's requests for it. A model that does not
// exist is reported as such, allowed or not.
func (s *Server) authorize(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
		if err := req.Token.Authorize(req.Group, req.ClientIP, req.Model, req.Received); err != nil {
			if aiproxy.ErrorReason(err) == aiproxy.ReasonModelNotAllowed && len(s.Catalog.Channels(req.Model)) == 0 {
				return nil, errNoModel(req.Model)
			}
			return nil, err
		}
		req.Effective = s.Catalog.Effective(req.Group, req.Model)
		req.saveBodies = req.saveBodies || req.Effective.SaveDetail
		if req.Protocol != aiproxy.ProtocolGemini && tiersByService(req.Effective.Pricing) {
			// Read only when a price depends on it: it costs a scan of the body.
			req.Log.ServiceTier = gjson.GetBytes(req.Body, "service_tier").Str
		}
		return next.Serve(ctx, req)
	})
}

// account is the one place where a request's usage becomes limits and
// money. Before the call it reserves against every limit (limits): one
// round trip to the Limiter, refusing with 429 (rate limits) or
// insufficient_quota (quotas, balances) before any provider is asked.
// When the request ends, however it ends (answered, failed, its stream
// closed by the client), the front calls settle, which completes the
// log entry's usage and cost, corrects the reservation to what was used
// and charges the token and group: exactly once.
func (s *Server) account(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) (*Response, error) {
		if req.Op == OpCountTokens {
			return next.Serve(ctx, req) // counting tokens costs nothing and uses no limit
		}
		if s.Limiter != nil {
			if lims := s.limits(req); len(lims) > 0 {
				res, err := s.Limiter.Reserve(ctx, lims, req.Received)
				switch {
				case err != nil:
					// The shared limiter is out of reach: serve rather than
					// refuse everyone (limits hold again when it is back).
					s.limiterDown(err)
				case !res.OK:
					req.reservation = res
					if s.Refusals != nil {
						s.Refusals.Refused(res.Limits[res.Denied].Name)
					}
					return nil, refusal(req, res)
				default:
					req.reservation = res
				}
			}
		}
		req.accounted = true
		resp, err := next.Serve(ctx, req)
		if err == nil {
			req.answer = resp
		}
		return resp, err
	})
}

// settle completes the log entry's usage and cost from the answer (or,
// for a request that reached a provider and got no answer because its
// client left, from its counted prompt), settles the reservation and
// charges the token and group. The front calls it once, when the answer
// has been written or the stream closed, on a context that outlives the
// client.
func (s *Server) settle(req *Request) {
	l := req.Log
	resp := req.answer
	switch {
	case resp != nil && resp.Usage != nil:
		l.Usage = *resp.Usage
	case resp != nil:
		l.Usage = s.countUsage(req, resp.Text)
		l.UsageCounted = true
	case len(req.Attempts) > 0 && l.StatusCode == StatusClientClosed:
		// The provider was asked and the client left before the answer:
		// the provider bills the prompt at least.
		s.estimate(req)
		l.Usage = aiproxy.Usage{PromptTokens: req.estPrompt}
		l.UsageCounted = true
	}
	if l.Usage.TotalTokens == 0 {
		l.Usage.TotalTokens = l.Usage.PromptTokens + l.Usage.CompletionTokens
	}
	if resp != nil {
		l.Usage.Requests = 1
	}
	if p := req.Effective.Pricing; p != nil {
		l.Cost = p.Cost(l.Usage, l.ServiceTier, req.Received)
		l.Amount = l.Cost.Total()
	} else {
		l.Unpriced = true
	}
	if res := req.reservation; res != nil && res.OK {
		costs := req.costBuf[:0]
		for i := range res.Limits {
			c := res.Limits[i].Cost
			switch res.Limits[i].Name {
			case "tpm", "token_tpm":
				c = l.Usage.TotalTokens
			case "quota", "period_quota", "balance":
				c = int64(l.Amount)
			}
			costs = append(costs, c)
		}
		s.checkLowBalance(req, res, costs)
		// The client may be gone: the settlement runs on a context of its
		// own (Redis's client bounds the round trip by its timeouts).
		if err := s.Limiter.Settle(context.Background(), res, costs); err != nil {
			s.limiterDown(err)
		}
	}
	if s.Charger != nil && (len(req.Attempts) > 0 || l.Amount != 0) {
		c := aiproxy.Charge{TokenID: req.Token.ID, GroupID: req.Token.GroupID, Amount: l.Amount, Requests: 1}
		if req.Token.Period != aiproxy.PeriodNone {
			c.PeriodStart = req.Token.Period.Start(req.Received, s.QuotaLocation)
		}
		s.Charger.Charge(c)
	}
}

// limiterDown reports that the limiter failed, at most every 10 seconds.
func (s *Server) limiterDown(err error) {
	now := time.Now().UnixNano()
	last := s.limiterWarned.Load()
	if now-last < int64(10*time.Second) || !s.limiterWarned.CompareAndSwap(last, now) {
		return
	}
	s.logger().Warn("relay: the limiter failed; requests are served without limits until it answers", "err", err)
}

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

// checkLowBalance warns, at most once an hour per group, when a prepaid
// group's balance falls under its LowBalance threshold: in the server log
// and to Alerts.
func (s *Server) checkLowBalance(req *Request, res *aiproxy.Reservation, costs []int64) {
	g := req.Group
	if g == nil || !g.Prepaid || g.LowBalance <= 0 {
		return
	}
	for i := range res.Limits {
		if res.Limits[i].Name != "balance" {
			continue
		}
		left := res.States[i].Remaining + res.Limits[i].Cost - costs[i]
		if left >= int64(g.LowBalance) {
			return
		}
		now := time.Now()
		if last, ok := s.lowWarned.Load(g.ID); ok && now.Sub(last.(time.Time)) < time.Hour {
			return
		}
		s.lowWarned.Store(g.ID, now)
		s.logger().Warn("relay: group balance low", "group", g.ID, "balance", aiproxy.Amount(left).Float(), "threshold", g.LowBalance.Float())
		if s.Alerts != nil {
			s.Alerts.Alert(aiproxy.Alert{
				Kind: aiproxy.AlertGroupBalance, Severity: aiproxy.SeverityWarning, Key: "group_balance:" + g.ID, GroupID: g.ID,
				Title: "Group " + g.ID + ": balance low",
				Text:  fmt.Sprintf("Balance %.4f is under the threshold %.4f; requests are refused once it runs out.", aiproxy.Amount(left).Float(), g.LowBalance.Float()),
			})
		}
	}
}

// tiersByService reports whether p has a tier that depends on the
// request's service tier.
func tiersByService(p *aiproxy.Pricing) bool {
	if p == nil {
		return false
	}
	for i := range p.Tiers {
		if p.Tiers[i].ServiceTier != "" {
			return true
		}
	}
	return false
}
