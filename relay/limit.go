package relay

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/tidwall/gjson"

	"github.com/aiproxy/aiproxy"
)

// Limiter admits requests against rate limits, concurrency caps, quotas
// and balances, shared by every replica (store's RedisLimiter) or kept in
// memory (MemoryLimiter). Admission reserves; settling corrects the
// reservation to what the request really used, however it ended.
type Limiter interface {
	// Reserve admits a request against every limit of lims, all or none,
	// at now.
	Reserve(ctx context.Context, lims []aiproxy.Limit, now time.Time) (*aiproxy.Reservation, error)
	// Settle ends a reservation that was OK: costs[i] is the actual cost
	// for r.Limits[i] (window and budget counters are corrected by the
	// difference; a concurrency slot is released).
	Settle(ctx context.Context, r *aiproxy.Reservation, costs []int64) error
}

// Refusals is told of every request a limit refused (the metrics). Refused
// runs on the request path, so it must not block and should not
// allocate.
type Refusals interface {
	// Refused counts one refusal by the limit named limit: "rpm", "tpm",
	// "token_rpm", "token_tpm", "concurrency", "quota", "period_quota" or
	// "balance".
	Refused(limit string)
}

// Windows and lifetimes of the limits.
const (
	minute = time.Minute
	// concurrencyLapse is how long a concurrency slot outlives a replica
	// that died holding it.
	concurrencyLapse = time.Hour
	// budgetIdle is how long a quota or balance counter is kept after its
	// last use; after that it starts again from the database's value,
	// which the ledger has long brought up to date.
	budgetIdle = 24 * time.Hour
)

// limits returns the limits req is admitted against, in req.limitBuf:
// the group × model RPM and TPM (EffectiveModel), the token's own RPM and
// TPM, the group's concurrency cap and, with billing on, the token's
// quota and period quota and a prepaid group's balance.
func (s *Server) limits(req *Request) []aiproxy.Limit {
	lims := req.limitBuf[:0]
	e, t, g := &req.Effective, req.Token, req.Group
	gid := t.GroupID
	if e.RPM > 0 {
		lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "rpm", Key: "rpm:g:" + gid + ":" + req.Model, Max: e.RPM, Cost: 1, Window: minute})
	}
	if t.RPM > 0 {
		lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "token_rpm", Key: "rpm:t:" + strconv.FormatInt(t.ID, 10), Max: t.RPM, Cost: 1, Window: minute})
	}
	needTokens := e.TPM > 0 || t.TPM > 0
	needMoney := s.Billing && (t.Quota > 0 || t.PeriodQuota > 0 || (g != nil && g.Prepaid))
	if needTokens || needMoney {
		s.estimate(req)
	}
	if e.TPM > 0 {
		lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "tpm", Key: "tpm:g:" + gid + ":" + req.Model, Max: e.TPM, Cost: req.estTokens(), Window: minute})
	}
	if t.TPM > 0 {
		lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "token_tpm", Key: "tpm:t:" + strconv.FormatInt(t.ID, 10), Max: t.TPM, Cost: req.estTokens(), Window: minute})
	}
	if g != nil && g.MaxConcurrency > 0 {
		lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitConcurrent, Name: "concurrency", Key: "conc:g:" + gid, Max: g.MaxConcurrency, Cost: 1, Window: concurrencyLapse})
	}
	if needMoney {
		cost := int64(req.estCost())
		if t.Quota > 0 {
			lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitBudget, Name: "quota", Key: "quota:t:" + strconv.FormatInt(t.ID, 10), Max: int64(t.Quota), Cost: cost, Base: int64(t.UsedAmount), Window: budgetIdle})
		}
		if t.PeriodQuota > 0 && t.Period != aiproxy.PeriodNone {
			start := t.Period.Start(req.Received, s.QuotaLocation)
			lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitBudget, Name: "period_quota",
				Key: "pquota:t:" + strconv.FormatInt(t.ID, 10) + ":" + strconv.FormatInt(start.Unix(), 10), Max: int64(t.PeriodQuota), Cost: cost,
				Base: int64(t.PeriodUsedAt(req.Received, s.QuotaLocation)), Window: t.Period.End(start).Sub(start) + budgetIdle})
		}
		if g != nil && g.Prepaid {
			lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitBudget, Name: "balance", Key: "balance:g:" + gid, Max: int64(g.Credit), Cost: cost, Base: int64(g.UsedAmount), Window: budgetIdle})
		}
	}
	return lims
}

// estimate sets the request's estimated prompt tokens and the output it
// may produce (its own maximum, or DefaultMaxOutput), once. OpenAI
// requests are estimated from the length of their text (estimateTokens),
// others counted with the tokenizer on their decoded form.
func (s *Server) estimate(req *Request) {
	if req.estimated {
		return
	}
	req.estimated = true
	if req.Protocol == aiproxy.ProtocolOpenAI {
		// The body's text by its length: running the tokenizer on every
		// request would cost more than the rest of the accounting.
		req.estPrompt = countUsageWith(nil, req.Mode, req.Body, nil).PromptTokens
	} else {
		req.estPrompt = s.countUsage(req, nil).PromptTokens
	}
	if req.Mode != aiproxy.ModeChat && req.Mode != aiproxy.ModeCompletions && req.Mode != aiproxy.ModeResponses {
		return
	}
	var max gjson.Result
	switch req.Protocol {
	case aiproxy.ProtocolGemini:
		max = gjson.GetBytes(req.Body, "generationConfig.maxOutputTokens")
	case aiproxy.ProtocolAnthropic:
		max = gjson.GetBytes(req.Body, "max_tokens")
	default:
		for _, r := range gjson.GetManyBytes(req.Body, "max_completion_tokens", "max_tokens", "max_output_tokens") {
			if r.Exists() {
				max = r
				break
			}
		}
	}
	req.estOutput = s.DefaultMaxOutput
	if req.estOutput <= 0 {
		req.estOutput = 1024
	}
	if n := max.Int(); n > 0 {
		req.estOutput = n
	}
}

func (r *Request) estTokens() int64 { return r.estPrompt + r.estOutput }

// estCost is what the request may cost at most, as far as the estimate
// goes: its prompt and its maximum output at the model's prices.
func (r *Request) estCost() aiproxy.Amount {
	if r.Effective.Pricing == nil {
		return 0
	}
	u := aiproxy.Usage{PromptTokens: r.estPrompt, CompletionTokens: r.estOutput, TotalTokens: r.estTokens(), Requests: 1}
	return r.Effective.Pricing.Cost(u, r.Log.ServiceTier, r.Received).Total()
}

// refusal is the error of a reservation that was refused.
func refusal(req *Request, res *aiproxy.Reservation) error {
	l := &res.Limits[res.Denied]
	var e *aiproxy.Error
	switch l.Kind {
	case aiproxy.LimitBudget:
		what := map[string]string{"quota": "this API key's quota", "period_quota": "this API key's quota for the period", "balance": "your group's balance"}[l.Name]
		e = aiproxy.ReasonErrorf(aiproxy.EQUOTA, "insufficient_quota", "You exceeded %s: the request may cost more than what is left. Check your plan and billing details.", what)
	case aiproxy.LimitConcurrent:
		e = aiproxy.ReasonErrorf(aiproxy.ERATELIMITED, "concurrency_limit_exceeded", "Too many requests in flight for your group: the limit is %d at a time. Please try again shortly.", l.Max)
	default:
		unit := map[string]string{"rpm": "requests per min (RPM)", "tpm": "tokens per min (TPM)", "token_rpm": "requests per min (RPM) for this API key", "token_tpm": "tokens per min (TPM) for this API key"}[l.Name]
		used := l.Max - res.States[res.Denied].Remaining
		if l.Cost > l.Max {
			e = aiproxy.ReasonErrorf(aiproxy.ERATELIMITED, "rate_limit_exceeded", "Request too large for %s on %s: Limit %d, Requested %d. Send fewer tokens or a lower maximum output.", req.Model, unit, l.Max, l.Cost)
			break
		}
		e = aiproxy.ReasonErrorf(aiproxy.ERATELIMITED, "rate_limit_exceeded", "Rate limit reached for %s on %s: Limit %d, Used %d, Requested %d. Please try again in %s.", req.Model, unit, l.Max, used, l.Cost, resetString(res.RetryAfter))
	}
	e.RetryAfter = res.RetryAfter
	return e
}

// rateHeaders sets OpenAI's x-ratelimit-* headers from the request's
// reservation: of the request limits (RPM) and the token limits (TPM),
// the one with the least room left. Requests with no such limit get
// none.
func rateHeaders(h http.Header, req *Request) {
	res := req.reservation
	if res == nil {
		return
	}
	rq, tk := -1, -1
	for i := range res.Limits {
		if res.Limits[i].Kind != aiproxy.LimitWindow {
			continue
		}
		p := &rq
		if res.Limits[i].Name == "tpm" || res.Limits[i].Name == "token_tpm" {
			p = &tk
		}
		if *p < 0 || res.States[i].Remaining < res.States[*p].Remaining {
			*p = i
		}
	}
	// One backing array for the six values; constant keys, already in
	// canonical form.
	vals := make([]string, 0, 6)
	set := func(i int, limit, remaining, reset string) {
		if i < 0 {
			return
		}
		n := len(vals)
		vals = append(vals, strconv.FormatInt(res.Limits[i].Max, 10),
			strconv.FormatInt(max(res.States[i].Remaining, 0), 10), resetString(res.States[i].Reset))
		h[limit] = vals[n : n+1 : n+1]
		h[remaining] = vals[n+1 : n+2 : n+2]
		h[reset] = vals[n+2 : n+3 : n+3]
	}
	set(rq, "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests")
	set(tk, "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens")
}

// resetString writes a duration as OpenAI's reset headers do: "1s",
// "6m0s", "20ms".
func resetString(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}
