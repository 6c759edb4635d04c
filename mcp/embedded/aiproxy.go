package embedded

import (
	"context"
	"sort"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/aiproxy/aiproxy"
)

// Analytics reads usage summaries: the methods of
// aiproxy.AnalyticsService the aiproxy template uses.
type Analytics interface {
	UsageTotals(ctx context.Context, f aiproxy.AnalyticsFilter) (aiproxy.UsageStats, error)
	UsageRanking(ctx context.Context, f aiproxy.AnalyticsFilter, by aiproxy.RankBy, order aiproxy.RankOrder, limit int) ([]aiproxy.RankEntry, error)
}

// Catalog tells which models are served and at what price, from memory:
// the methods of relay.Catalog (store.Cache) the aiproxy template uses.
type Catalog interface {
	// Models returns every model served by an enabled channel, sorted.
	Models() []string
	// Channels returns the enabled channels serving model.
	Channels(model string) []*aiproxy.Channel
	// Effective returns what applies to group g's requests for model.
	Effective(g *aiproxy.Group, model string) aiproxy.EffectiveModel
}

// Groups reads groups: the method of aiproxy.GroupService the aiproxy
// template uses.
type Groups interface {
	Group(ctx context.Context, id string) (*aiproxy.Group, error)
}

// Tokens reads tokens: the methods of aiproxy.TokenService the aiproxy
// template uses.
type Tokens interface {
	Token(ctx context.Context, id int64) (*aiproxy.Token, error)
	Tokens(ctx context.Context, groupID string) ([]*aiproxy.Token, error)
}

// Deps are what the embedded servers read of the gateway; cmd/aiproxy
// wires the store into them. A nil field makes the tools that need it
// answer with a tool error saying the gateway does not offer it.
type Deps struct {
	Analytics Analytics // the usage tool
	Catalog   Catalog   // the models tool
	Groups    Groups    // the models and quota tools
	Tokens    Tokens    // the quota and tokens tools
	// QuotaLocation is the zone token quota periods start in
	// (QUOTA_TIME_ZONE); nil means UTC.
	QuotaLocation *time.Location
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func aiproxyTemplate() template {
	return template{
		MCPTemplate: aiproxy.MCPTemplate{
			Name: "aiproxy",
			Description: "This gateway's own API for the calling group: its usage and cost, the models it may use " +
				"with their prices, its remaining quota and balance, and its tokens.",
		},
		build: buildAIProxy,
	}
}

// usageRanges are the ranges the usage tool offers.
var usageRanges = map[string]time.Duration{
	"hour": time.Hour, "day": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour,
}

// gatewayTools are the aiproxy template's tools. Every one reads the
// data of the caller's group only: no argument names a group.
type gatewayTools struct{ d *Deps }

func buildAIProxy(_ map[string]string, cfg *Config) (*Server, error) {
	g := &gatewayTools{d: &cfg.Deps}
	s := newServer()
	s.add(mcpgo.NewTool("usage",
		mcpgo.WithDescription("Returns the requests, tokens and cost of your group (or of the calling token) over a recent range, in total and by model."),
		mcpgo.WithString("range", mcpgo.Enum("hour", "day", "7d", "30d"), mcpgo.DefaultString("day"),
			mcpgo.Description("The range ending now: the last hour, day, 7 days or 30 days.")),
		mcpgo.WithString("scope", mcpgo.Enum("group", "token"), mcpgo.DefaultString("group"),
			mcpgo.Description("group: every token of your group; token: the token making this call.")),
		readOnly(false),
	), scoped(g.usage))
	s.add(mcpgo.NewTool("models",
		mcpgo.WithDescription("Lists the models your group and token may use, with their prices per million tokens and limits."),
		mcpgo.WithString("search", mcpgo.Description("Keep only the models whose name contains this text (case-insensitive).")),
		readOnly(false),
	), scoped(g.models))
	s.add(mcpgo.NewTool("quota",
		mcpgo.WithDescription("Returns the remaining quota of the calling token and the balance of your group."),
		readOnly(false),
	), scoped(g.quota))
	s.add(mcpgo.NewTool("tokens",
		mcpgo.WithDescription("Lists your group's API tokens: name, key prefix, status and usage (never a key)."),
		readOnly(false),
	), scoped(g.tokens))
	return s, nil
}

// scoped runs h only for a caller with a group, the only one whose data
// h reads.
func scoped(h handler) handler {
	return func(ctx context.Context, c Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		if c.GroupID == "" {
			return nil, aiproxy.Errorf(aiproxy.EUNAUTHORIZED, "the aiproxy tools need the caller's group")
		}
		return h(ctx, c, req)
	}
}

// unavailable is the result of a tool whose dependency is not wired.
func unavailable(tool string) *mcpgo.CallToolResult {
	return toolError("%s is not available on this gateway", tool)
}

// failed is the result of a tool whose read failed: the message of an
// *aiproxy.Error, "internal error" for anything else.
func failed(tool string, err error) *mcpgo.CallToolResult {
	return toolError("%s: %s", tool, aiproxy.ErrorMessage(err))
}

// usageLine is one line of the usage tool's answer.
type usageLine struct {
	Model            string  `json:"model,omitempty"`
	Requests         int64   `json:"requests"`
	Errors           int64   `json:"errors"`
	PromptTokens     int64   `json:"promptTokens"`
	CompletionTokens int64   `json:"completionTokens"`
	TotalTokens      int64   `json:"totalTokens"`
	Cost             float64 `json:"cost"`
}

func newUsageLine(model string, s *aiproxy.UsageStats) usageLine {
	return usageLine{Model: model, Requests: s.Requests, Errors: s.Errors(), PromptTokens: s.Usage.PromptTokens,
		CompletionTokens: s.Usage.CompletionTokens, TotalTokens: s.Usage.TotalTokens, Cost: s.Cost.Total().Float()}
}

func (g *gatewayTools) usage(ctx context.Context, c Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	if g.d.Analytics == nil {
		return unavailable("usage"), nil
	}
	rng := req.GetString("range", "day")
	d, ok := usageRanges[rng]
	if !ok {
		return toolError("range must be hour, day, 7d or 30d"), nil
	}
	to := g.d.now().UTC().Truncate(time.Minute).Add(time.Minute) // the current minute included
	f := aiproxy.AnalyticsFilter{GroupID: c.GroupID, From: to.Add(-d), To: to}
	switch scope := req.GetString("scope", "group"); scope {
	case "group":
	case "token":
		if c.Token == nil {
			return toolError("this call carries no token"), nil
		}
		f.TokenID = c.Token.ID
	default:
		return toolError("scope must be group or token"), nil
	}
	total, err := g.d.Analytics.UsageTotals(ctx, f)
	if err != nil {
		return failed("usage", err), nil
	}
	ranked, err := g.d.Analytics.UsageRanking(ctx, f, aiproxy.RankModels, aiproxy.OrderCost, 100)
	if err != nil {
		return failed("usage", err), nil
	}
	out := struct {
		Group string `json:"group"`
		Range string `json:"range"`
		From  string `json:"from"`
		To    string `json:"to"`
		usageLine
		Models []usageLine `json:"models"`
	}{Group: c.GroupID, Range: rng, From: f.From.Format(time.RFC3339), To: f.To.Format(time.RFC3339),
		usageLine: newUsageLine("", &total), Models: []usageLine{}}
	for i := range ranked {
		out.Models = append(out.Models, newUsageLine(ranked[i].Model, &ranked[i].Stats))
	}
	return jsonResult(out)
}

// modelLine is one model of the models tool's answer. Prices are per
// million tokens, PerRequest per request, in the gateway's currency unit.
type modelLine struct {
	Model       string   `json:"model"`
	Priced      bool     `json:"priced"`
	Free        bool     `json:"free,omitempty"`
	Input       *float64 `json:"inputPerMTok,omitempty"`
	Output      *float64 `json:"outputPerMTok,omitempty"`
	CachedInput *float64 `json:"cachedInputPerMTok,omitempty"`
	PerRequest  *float64 `json:"perRequest,omitempty"`
	Tiers       int      `json:"priceTiers,omitempty"`
	RPM         int64    `json:"rpm,omitempty"`
	TPM         int64    `json:"tpm,omitempty"`
}

func price(p aiproxy.Price) *float64 {
	if p == 0 {
		return nil
	}
	f := aiproxy.Amount(p).Float()
	return &f
}

func (g *gatewayTools) models(ctx context.Context, c Caller, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	if g.d.Catalog == nil || g.d.Groups == nil {
		return unavailable("models"), nil
	}
	grp, err := g.d.Groups.Group(ctx, c.GroupID)
	if err != nil {
		return failed("models", err), nil
	}
	search := strings.ToLower(req.GetString("search", ""))
	lines := []modelLine{}
	for _, m := range g.d.Catalog.Models() {
		if search != "" && !strings.Contains(strings.ToLower(m), search) {
			continue
		}
		if c.Token != nil && !c.Token.AllowsModel(m) || !served(g.d.Catalog.Channels(m), grp) {
			continue
		}
		e := g.d.Catalog.Effective(grp, m)
		l := modelLine{Model: m, RPM: e.RPM, TPM: e.TPM}
		if e.Pricing.Priced() {
			p := e.Pricing.Prices.Fallback()
			l.Priced, l.Free, l.Tiers = true, e.Pricing.Free, len(e.Pricing.Tiers)
			l.Input, l.Output, l.CachedInput = price(p.Input), price(p.Output), price(p.CachedInput)
			if p.PerRequest != 0 {
				f := p.PerRequest.Float()
				l.PerRequest = &f
			}
		}
		lines = append(lines, l)
	}
	return jsonResult(struct {
		Group  string      `json:"group"`
		Models []modelLine `json:"models"`
	}{c.GroupID, lines})
}

// served reports whether one of chs is in a channel set g may use.
func served(chs []*aiproxy.Channel, g *aiproxy.Group) bool {
	for _, ch := range chs {
		if ch.InSets(g.AvailableSets) {
			return true
		}
	}
	return false
}

func (g *gatewayTools) quota(ctx context.Context, c Caller, _ mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	if g.d.Groups == nil {
		return unavailable("quota"), nil
	}
	type tokenQuota struct {
		Name            string   `json:"name"`
		Prefix          string   `json:"prefix"`
		Used            float64  `json:"used"`
		Quota           *float64 `json:"quota"`     // null: no cap
		Remaining       *float64 `json:"remaining"` // null: no cap
		Period          string   `json:"period,omitempty"`
		PeriodQuota     *float64 `json:"periodQuota,omitempty"`
		PeriodUsed      *float64 `json:"periodUsed,omitempty"`
		PeriodRemaining *float64 `json:"periodRemaining,omitempty"`
		PeriodEnds      string   `json:"periodEnds,omitempty"`
		ExpiresAt       string   `json:"expiresAt,omitempty"`
	}
	type groupBalance struct {
		ID       string   `json:"id"`
		Prepaid  bool     `json:"prepaid"`
		Balance  *float64 `json:"balance,omitempty"` // prepaid groups only
		Used     float64  `json:"used"`
		Requests int64    `json:"requests"`
	}
	out := struct {
		Token *tokenQuota  `json:"token,omitempty"`
		Group groupBalance `json:"group"`
	}{}
	amount := func(a aiproxy.Amount) *float64 { f := a.Float(); return &f }
	if c.Token != nil {
		t := c.Token
		if g.d.Tokens != nil {
			fresh, err := g.d.Tokens.Token(ctx, t.ID)
			if err != nil {
				return failed("quota", err), nil
			}
			t = fresh
		}
		if t.GroupID != c.GroupID {
			return toolError("quota: the calling token is not of your group"), nil
		}
		q := &tokenQuota{Name: t.Name, Prefix: t.Prefix, Used: t.UsedAmount.Float()}
		if t.Quota > 0 {
			q.Quota, q.Remaining = amount(t.Quota), amount(max(t.Quota-t.UsedAmount, 0))
		}
		if t.Period != aiproxy.PeriodNone && t.PeriodQuota > 0 {
			now := g.d.now()
			used := t.PeriodUsedAt(now, g.d.QuotaLocation)
			q.Period = string(t.Period)
			q.PeriodQuota, q.PeriodUsed, q.PeriodRemaining = amount(t.PeriodQuota), amount(used), amount(max(t.PeriodQuota-used, 0))
			q.PeriodEnds = t.Period.End(t.Period.Start(now, g.d.QuotaLocation)).Format(time.RFC3339)
		}
		if t.ExpiresAt != nil {
			q.ExpiresAt = t.ExpiresAt.Format(time.RFC3339)
		}
		out.Token = q
	}
	grp, err := g.d.Groups.Group(ctx, c.GroupID)
	if err != nil {
		return failed("quota", err), nil
	}
	out.Group = groupBalance{ID: grp.ID, Prepaid: grp.Prepaid, Used: grp.UsedAmount.Float(), Requests: grp.RequestCount}
	if grp.Prepaid {
		out.Group.Balance = amount(grp.Balance())
	}
	return jsonResult(out)
}

func (g *gatewayTools) tokens(ctx context.Context, c Caller, _ mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	if g.d.Tokens == nil {
		return unavailable("tokens"), nil
	}
	ts, err := g.d.Tokens.Tokens(ctx, c.GroupID)
	if err != nil {
		return failed("tokens", err), nil
	}
	type tokenLine struct {
		ID        int64    `json:"id"`
		Name      string   `json:"name"`
		Prefix    string   `json:"prefix"`
		Status    string   `json:"status"` // enabled, disabled or expired
		Used      float64  `json:"used"`
		Requests  int64    `json:"requests"`
		Quota     *float64 `json:"quota,omitempty"`
		ExpiresAt string   `json:"expiresAt,omitempty"`
		Current   bool     `json:"current,omitempty"` // the token making this call
	}
	now := g.d.now()
	lines := []tokenLine{}
	for _, t := range ts {
		if t.GroupID != c.GroupID {
			continue // never another group's, whatever the reader returned
		}
		l := tokenLine{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Status: "enabled", Used: t.UsedAmount.Float(),
			Requests: t.RequestCount, Current: c.Token != nil && c.Token.ID == t.ID}
		switch {
		case !t.Enabled:
			l.Status = "disabled"
		case t.Expired(now):
			l.Status = "expired"
		}
		if t.Quota > 0 {
			q := t.Quota.Float()
			l.Quota = &q
		}
		if t.ExpiresAt != nil {
			l.ExpiresAt = t.ExpiresAt.Format(time.RFC3339)
		}
		lines = append(lines, l)
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].ID < lines[j].ID })
	return jsonResult(struct {
		Group  string      `json:"group"`
		Tokens []tokenLine `json:"tokens"`
	}{c.GroupID, lines})
}
