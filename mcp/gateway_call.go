package mcp

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/relay"
)

// Windows of the tool calls' limits, as the relay's.
const (
	limitWindow      = time.Minute
	concurrencyLapse = time.Hour
	budgetIdle       = 24 * time.Hour
)

// maxLoggedError caps the error text of a log entry.
const maxLoggedError = 1024

// callTool serves tools/call: it admits the call against the limits,
// calls the tool, settles, charges and logs. Every call that names a
// tool is logged, with Model "mcp/<server>/<tool>" and a StatusCode
// mapped from how it ended:
//
//	200  the tool answered
//	400  the tool answered with isError (bad arguments, a failed operation), or invalid params
//	404  no such tool for this key (unknown, or not in its MCPTools)
//	429  a limit refused it (rate, concurrency, quota, balance)
//	502  the toolset failed (the remote server or API unreachable); 504 when it timed out
//	499  the client left before the tool answered (relay.StatusClientClosed)
//	500  anything else
//
// A refusal and a toolset failure are answered as a result with isError
// and the reason as text, so that the model calling the tool reads it; an
// unknown tool and invalid params are JSON-RPC errors (-32602), as MCP
// says. Calls whose tool answered without isError cost the server's
// Price(tool), charged once through the Charger; a failed call (isError:
// bad arguments caught before any request, a non-2xx answer) costs
// nothing, as a failed model request does.
func (x *exchange) callTool(ctx context.Context, params json.RawMessage) (any, *rpcError) {
	var p mcpgo.CallToolParams
	if len(params) == 0 || json.Unmarshal(params, &p) != nil || p.Name == "" {
		return nil, &rpcError{Code: mcpgo.INVALID_PARAMS, Message: "Invalid tools/call params: a tool name is required."}
	}
	g, c := x.g, x.c
	start := time.Now()
	h, tool, ok := x.resolveTool(p.Name)
	l := &aiproxy.Log{
		RequestID: g.requestID(),
		CreatedAt: start.UTC(),
		GroupID:   c.GroupID,
		TokenID:   c.Token.ID,
		TokenName: c.Token.Name,
		Endpoint:  x.t.path,
		Mode:      aiproxy.ModeMCP,
		Model:     "mcp/" + p.Name,
		ClientIP:  c.ip.String(),
	}
	if ok {
		l.Model = "mcp/" + h.srv.Name + "/" + tool
	}
	defer func() {
		l.Latency = time.Since(start)
		g.Logs.Record(l)
	}()
	if !ok || !c.Token.AllowsMCPTool(h.srv.Name, tool) {
		l.StatusCode, l.Error = http.StatusNotFound, "unknown tool"
		return nil, &rpcError{Code: mcpgo.INVALID_PARAMS, Message: "Unknown tool: " + p.Name + "."}
	}
	ts, release, err := g.toolset(ctx, h, c.GroupID)
	defer release()
	if err != nil {
		l.StatusCode, l.Error = relay.HTTPStatus(err), clipError(aiproxy.ErrorMessage(err))
		return callErrorResult("The MCP server " + h.srv.Name + " is unavailable: " + aiproxy.ErrorMessage(err)), nil
	}

	price := h.srv.Price(tool)
	res := g.reserve(ctx, c, l.Model, price)
	if res != nil && !res.OK {
		e := callRefusal(res)
		l.StatusCode, l.Error = http.StatusTooManyRequests, e.Message
		return callErrorResult(e.Message), nil
	}
	charged := aiproxy.Amount(0)
	defer func() { g.settle(c, res, charged) }()

	req := mcpgo.CallToolRequest{Params: p}
	req.Method = "tools/call"
	req.Params.Name = tool
	if len(p.RawArguments) == 0 && p.Arguments != nil {
		req.Params.RawArguments, _ = json.Marshal(p.Arguments)
	}
	out, err := ts.Call(ctx, c.Caller, req)
	switch {
	case err != nil && aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND:
		l.StatusCode, l.Error = http.StatusNotFound, clipError(aiproxy.ErrorMessage(err))
		return nil, &rpcError{Code: mcpgo.INVALID_PARAMS, Message: "Unknown tool: " + p.Name + "."}
	case err != nil && aiproxy.ErrorCode(err) == aiproxy.EINVALID:
		l.StatusCode, l.Error = http.StatusBadRequest, clipError(aiproxy.ErrorMessage(err))
		return nil, &rpcError{Code: mcpgo.INVALID_PARAMS, Message: aiproxy.ErrorMessage(err)}
	case err != nil:
		if ctx.Err() != nil {
			l.StatusCode, l.Error = relay.StatusClientClosed, "client disconnected"
		} else {
			l.StatusCode, l.Error = relay.HTTPStatus(err), clipError(aiproxy.ErrorMessage(err))
		}
		return callErrorResult(aiproxy.ErrorMessage(err)), nil
	case out == nil:
		out = &mcpgo.CallToolResult{Content: []mcpgo.Content{}}
	}
	l.StatusCode = http.StatusOK
	if !out.IsError {
		charged = price
		l.Amount = price
	} else {
		l.StatusCode, l.Error = http.StatusBadRequest, clipError(resultText(out))
		if l.Error == "" {
			l.Error = "the tool reported an error"
		}
	}
	if out.Content == nil {
		out.Content = []mcpgo.Content{}
	}
	return out, nil
}

// callErrorResult is a tool result with isError and msg as its text.
func callErrorResult(msg string) *mcpgo.CallToolResult {
	return &mcpgo.CallToolResult{Content: []mcpgo.Content{mcpgo.NewTextContent(msg)}, IsError: true}
}

// resultText returns the text of a result's text contents.
func resultText(r *mcpgo.CallToolResult) string {
	var s string
	for _, c := range r.Content {
		if t, ok := c.(mcpgo.TextContent); ok {
			s += t.Text
		} else if t, ok := c.(*mcpgo.TextContent); ok {
			s += t.Text
		}
	}
	return s
}

// clipError cuts s to maxLoggedError bytes, for a log entry.
func clipError(s string) string {
	if len(s) > maxLoggedError {
		return s[:maxLoggedError]
	}
	return s
}

// limits returns the limits a call of model (mcp/<server>/<tool>) costing
// price is admitted against: the token's RPM (shared with its model
// requests), ToolRPM for the group and the tool, the group's concurrency
// cap and, with Billing and a price, the token's quota and period quota
// and a prepaid group's balance. Keys are the relay's, so that MCP calls
// and model requests draw on the same counters.
func (g *Gateway) limits(c *client, model string, price aiproxy.Amount) []aiproxy.Limit {
	var lims []aiproxy.Limit
	t, grp, gid := c.Token, c.group, c.GroupID
	tid := strconv.FormatInt(t.ID, 10)
	if g.ToolRPM > 0 {
		lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "rpm", Key: "rpm:g:" + gid + ":" + model, Max: g.ToolRPM, Cost: 1, Window: limitWindow})
	}
	if t.RPM > 0 {
		lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitWindow, Name: "token_rpm", Key: "rpm:t:" + tid, Max: t.RPM, Cost: 1, Window: limitWindow})
	}
	if grp != nil && grp.MaxConcurrency > 0 {
		lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitConcurrent, Name: "concurrency", Key: "conc:g:" + gid, Max: grp.MaxConcurrency, Cost: 1, Window: concurrencyLapse})
	}
	if g.Billing && price > 0 {
		cost := int64(price)
		if t.Quota > 0 {
			lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitBudget, Name: "quota", Key: "quota:t:" + tid, Max: int64(t.Quota), Cost: cost, Base: int64(t.UsedAmount), Window: budgetIdle})
		}
		if t.PeriodQuota > 0 && t.Period != aiproxy.PeriodNone {
			start := t.Period.Start(c.now, g.QuotaLocation)
			lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitBudget, Name: "period_quota",
				Key: "pquota:t:" + tid + ":" + strconv.FormatInt(start.Unix(), 10), Max: int64(t.PeriodQuota), Cost: cost,
				Base: int64(t.PeriodUsedAt(c.now, g.QuotaLocation)), Window: t.Period.End(start).Sub(start) + budgetIdle})
		}
		if grp != nil && grp.Prepaid {
			lims = append(lims, aiproxy.Limit{Kind: aiproxy.LimitBudget, Name: "balance", Key: "balance:g:" + gid, Max: int64(grp.Credit), Cost: cost, Base: int64(grp.UsedAmount), Window: budgetIdle})
		}
	}
	return lims
}

// reserve admits a call; nil when nothing was reserved (no limiter, no
// limit, or a limiter out of reach, which admits).
func (g *Gateway) reserve(ctx context.Context, c *client, model string, price aiproxy.Amount) *aiproxy.Reservation {
	if g.Limiter == nil {
		return nil
	}
	lims := g.limits(c, model, price)
	if len(lims) == 0 {
		return nil
	}
	res, err := g.Limiter.Reserve(ctx, lims, c.now)
	if err != nil {
		g.limiterDown(err)
		return nil
	}
	return res
}

// settle corrects an admitted call's reservation to what it cost (its
// budgets by amount; 0 for a call that did not reach the tool) and
// charges the token and group when amount is positive. It runs when the
// call ends, on a context the client's leaving does not cancel.
func (g *Gateway) settle(c *client, res *aiproxy.Reservation, amount aiproxy.Amount) {
	if res != nil && res.OK {
		costs := make([]int64, len(res.Limits))
		for i := range res.Limits {
			costs[i] = res.Limits[i].Cost
			if res.Limits[i].Kind == aiproxy.LimitBudget {
				costs[i] = int64(amount)
			}
		}
		if err := g.Limiter.Settle(context.Background(), res, costs); err != nil {
			g.limiterDown(err)
		}
	}
	if g.Charger != nil && amount > 0 {
		ch := aiproxy.Charge{TokenID: c.Token.ID, GroupID: c.GroupID, Amount: amount, Requests: 1}
		if c.Token.Period != aiproxy.PeriodNone {
			ch.PeriodStart = c.Token.Period.Start(c.now, g.QuotaLocation)
		}
		g.Charger.Charge(ch)
	}
}

// callRefusal is the message of a refused reservation.
func callRefusal(res *aiproxy.Reservation) *aiproxy.Error {
	l := &res.Limits[res.Denied]
	var e *aiproxy.Error
	switch l.Kind {
	case aiproxy.LimitBudget:
		what := map[string]string{"quota": "this API key's quota", "period_quota": "this API key's quota for the period", "balance": "your group's balance"}[l.Name]
		e = aiproxy.ReasonErrorf(aiproxy.EQUOTA, "insufficient_quota", "You exceeded %s: this tool call costs more than what is left.", what)
	case aiproxy.LimitConcurrent:
		e = aiproxy.ReasonErrorf(aiproxy.ERATELIMITED, "concurrency_limit_exceeded", "Too many requests in flight for your group: the limit is %d at a time. Please try again shortly.", l.Max)
	default:
		e = aiproxy.ReasonErrorf(aiproxy.ERATELIMITED, "rate_limit_exceeded", "Rate limit reached (%s): limit %d per minute. Please try again in %s.", l.Name, l.Max, res.RetryAfter.Round(100*time.Millisecond))
	}
	e.RetryAfter = res.RetryAfter
	return e
}

// limiterDown reports that the limiter failed, at most every 10 seconds.
func (g *Gateway) limiterDown(err error) {
	now := time.Now().UnixNano()
	last := g.limiterWarned.Load()
	if now-last < int64(10*time.Second) || !g.limiterWarned.CompareAndSwap(last, now) {
		return
	}
	g.logger().Warn("mcp: the limiter failed; tool calls are served without limits until it answers", "err", err)
}
