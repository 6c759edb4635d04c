package graph_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/graph"
	"github.com/aiproxy/aiproxy/store"
)

type balanceEntry struct {
	ID        string  `json:"id"`
	Group     string  `json:"group"`
	Amount    float64 `json:"amount"`
	Balance   float64 `json:"balance"`
	Kind      string  `json:"kind"`
	Reason    string  `json:"reason"`
	Actor     string  `json:"actor"`
	CreatedAt string  `json:"createdAt"`
}

const balanceEntryFields = `id group amount balance kind reason actor createdAt`

// wantCode checks that errs is one error with the code, whatever its field.
func wantCode(tb testing.TB, errs []gqlError, code string) {
	tb.Helper()
	if len(errs) != 1 || errs[0].Extensions["code"] != code {
		tb.Errorf("errors %v, want one %s", errs, code)
	}
}

func TestGroupLimitsAndBalance(t *testing.T) {
	a := newAPI(t)
	var created struct {
		CreateGroup struct {
			RPMRatio, TPMRatio  float64
			MaxConcurrency      int64
			Prepaid             bool
			Balance, Credit     float64
			LowBalanceThreshold float64
			UsedAmount          float64
			RequestCount        int64
		}
	}
	a.mustPost(t, `mutation { createGroup(input: {id: "acme", rpmRatio: 2, tpmRatio: 0.5, maxConcurrency: 3, prepaid: true, lowBalanceThreshold: 1.5}) {
		rpmRatio tpmRatio maxConcurrency prepaid balance credit lowBalanceThreshold usedAmount requestCount } }`, &created)
	g := created.CreateGroup
	if g.RPMRatio != 2 || g.TPMRatio != 0.5 || g.MaxConcurrency != 3 || !g.Prepaid || g.Balance != 0 || g.LowBalanceThreshold != 1.5 {
		t.Errorf("created %+v", g)
	}
	stored, err := a.svc.Group(context.Background(), "acme")
	if err != nil || stored.LowBalance != 1_500_000_000 || stored.MaxConcurrency != 3 {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	var up struct{ TopUpBalance balanceEntry }
	a.mustPost(t, `mutation { topUpBalance(group: "acme", amount: 10.123456789, reason: "invoice 1") { `+balanceEntryFields+` } }`, &up)
	if e := up.TopUpBalance; e.Amount != 10.123456789 || e.Balance != 10.123456789 || e.Kind != "top_up" || e.Reason != "invoice 1" || e.Actor != "admin" || e.Group != "acme" {
		t.Errorf("top-up %+v", e)
	}
	var adj struct{ AdjustBalance balanceEntry }
	a.mustPost(t, `mutation { adjustBalance(group: "acme", amount: -0.5, reason: "refund correction") { `+balanceEntryFields+` } }`, &adj)
	if e := adj.AdjustBalance; e.Amount != -0.5 || e.Balance != 9.623456789 || e.Kind != "adjustment" {
		t.Errorf("adjustment %+v", e)
	}
	if stored, _ := a.svc.Group(context.Background(), "acme"); stored.Balance() != 9_623_456_789 {
		t.Errorf("stored balance %d nanos", stored.Balance())
	}

	// The audit trail, newest first, page by page.
	type page struct {
		Group struct {
			Balance, Credit float64
			BalanceEntries  struct {
				Edges []struct {
					Cursor string
					Node   balanceEntry
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
	}
	var p1 page
	a.mustPost(t, `{ group(id: "acme") { balance credit balanceEntries(first: 1) { edges { cursor node { `+balanceEntryFields+` } } pageInfo { hasNextPage endCursor } } } }`, &p1)
	if p1.Group.Balance != 9.623456789 || p1.Group.Credit != 9.623456789 {
		t.Errorf("group balance %v credit %v", p1.Group.Balance, p1.Group.Credit)
	}
	es := p1.Group.BalanceEntries
	if len(es.Edges) != 1 || es.Edges[0].Node.Kind != "adjustment" || !es.PageInfo.HasNextPage || es.PageInfo.EndCursor == nil {
		t.Fatalf("first page %+v", es)
	}
	var p2 page
	a.mustPost(t, `{ group(id: "acme") { balanceEntries(first: 5, after: "`+*es.PageInfo.EndCursor+`") { edges { cursor node { `+balanceEntryFields+` } } pageInfo { hasNextPage endCursor } } } }`, &p2)
	es = p2.Group.BalanceEntries
	if len(es.Edges) != 1 || es.Edges[0].Node.Kind != "top_up" || es.Edges[0].Node.Reason != "invoice 1" || es.PageInfo.HasNextPage {
		t.Errorf("second page %+v", es)
	}

	tests := []struct {
		name, query, code, field string
	}{
		{"amount beyond int64", `mutation { topUpBalance(group: "acme", amount: 1e10, reason: "r") { id } }`, "INVALID", "amount"},
		{"no reason", `mutation { topUpBalance(group: "acme", amount: 1, reason: " ") { id } }`, "INVALID", "reason"},
		{"unknown group", `mutation { topUpBalance(group: "nope", amount: 1, reason: "r") { id } }`, "NOT_FOUND", ""},
		{"threshold beyond int64", `mutation { updateGroup(id: "acme", input: {lowBalanceThreshold: 1e300}) { id } }`, "INVALID", "lowBalanceThreshold"},
		{"negative ratio", `mutation { updateGroup(id: "acme", input: {rpmRatio: -1}) { id } }`, "INVALID", "rpmRatio"},
		{"first too large", `{ group(id: "acme") { balanceEntries(first: 501) { pageInfo { hasNextPage } } } }`, "INVALID", "first"},
		{"bad cursor", `{ group(id: "acme") { balanceEntries(after: "x") { pageInfo { hasNextPage } } } }`, "INVALID", "after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, a.post(t, tt.query, nil), tt.code, tt.field)
		})
	}
	// The store refuses a negative top-up and a zero adjustment.
	wantCode(t, a.post(t, `mutation { topUpBalance(group: "acme", amount: -1, reason: "r") { id } }`, nil), "INVALID")
	wantCode(t, a.post(t, `mutation { adjustBalance(group: "acme", amount: 0, reason: "r") { id } }`, nil), "INVALID")
	if stored, _ := a.svc.Group(context.Background(), "acme"); stored.Balance() != 9_623_456_789 {
		t.Errorf("a refused change moved the balance to %d nanos", stored.Balance())
	}
}

type quotaToken struct {
	ID                   string
	Quota, PeriodQuota   float64
	Period               *string
	RPM, TPM             int64
	UsedAmount           float64
	RequestCount         int64
	PeriodUsed           float64
	PeriodStart          *string
	RemainingQuota       *float64
	RemainingPeriodQuota *float64
}

const quotaTokenFields = `quota periodQuota period rpm tpm usedAmount requestCount periodUsed periodStart remainingQuota remainingPeriodQuota`

func TestTokenQuotas(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	var out struct {
		CreateToken struct {
			Token quotaToken
		}
	}
	a.mustPost(t, `mutation { createToken(input: {group: "acme", name: "ci", quota: 5.5, periodQuota: 1, period: DAILY, rpm: 10, tpm: 1000}) { token { id `+quotaTokenFields+` } } }`, &out)
	tk := out.CreateToken.Token
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if tk.Quota != 5.5 || tk.PeriodQuota != 1 || tk.Period == nil || *tk.Period != "DAILY" || tk.RPM != 10 || tk.TPM != 1000 ||
		tk.RemainingQuota == nil || *tk.RemainingQuota != 5.5 || tk.RemainingPeriodQuota == nil || *tk.RemainingPeriodQuota != 1 ||
		tk.PeriodStart == nil || *tk.PeriodStart != today.Format(time.RFC3339Nano) || tk.PeriodUsed != 0 {
		t.Errorf("token %+v", tk)
	}

	// A null period removes it; an omitted one keeps it.
	var upd struct{ UpdateToken quotaToken }
	a.mustPost(t, `mutation { updateToken(id: "`+tk.ID+`", input: {rpm: 20}) { id `+quotaTokenFields+` } }`, &upd)
	if upd.UpdateToken.Period == nil || upd.UpdateToken.RPM != 20 {
		t.Errorf("after an update without period: %+v", upd.UpdateToken)
	}
	a.mustPost(t, `mutation { updateToken(id: "`+tk.ID+`", input: {period: null, periodQuota: 0, quota: 0}) { id `+quotaTokenFields+` } }`, &upd)
	if u := upd.UpdateToken; u.Period != nil || u.PeriodStart != nil || u.RemainingQuota != nil || u.RemainingPeriodQuota != nil {
		t.Errorf("uncapped token %+v", u)
	}

	// The quota time zone decides where a period starts.
	loc := time.FixedZone("UTC+14", 14*3600)
	b := newAPIWith(t, func(r *graph.Resolver) { r.QuotaLocation = loc })
	b.createGroup(t, `id: "acme"`)
	var wk struct {
		CreateToken struct{ Token quotaToken }
	}
	b.mustPost(t, `mutation { createToken(input: {group: "acme", name: "w", periodQuota: 2, period: WEEKLY}) { token { id `+quotaTokenFields+` } } }`, &wk)
	want := aiproxy.PeriodWeekly.Start(time.Now(), loc)
	if got := wk.CreateToken.Token.PeriodStart; got == nil || *got != want.Format(time.RFC3339Nano) {
		t.Errorf("weekly period start %v, want %v", got, want)
	}

	tests := []struct{ name, input, field string }{
		{"period quota without period", `periodQuota: 1`, "period"},
		{"quota beyond int64", `quota: 1e12`, "quota"},
		{"negative quota", `quota: -1`, "quota"},
		{"negative rpm", `rpm: -1`, "rpm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, a.post(t, `mutation { createToken(input: {group: "acme", name: "x", `+tt.input+`}) { key } }`, nil), "INVALID", tt.field)
		})
	}
}

const pricingFields = `input output cachedInput cacheWrite cacheWrite1h reasoning imageInput imageOutput audioInput audioOutput perRequest free
	tiers { name minPromptTokens maxPromptTokens serviceTier start end prices { input output cachedInput perRequest } }`

type pricing struct {
	Input, Output, CachedInput, CacheWrite, CacheWrite1h, Reasoning float64
	ImageInput, ImageOutput, AudioInput, AudioOutput, PerRequest    float64
	Free                                                            bool
	Tiers                                                           []struct {
		Name                             string
		MinPromptTokens, MaxPromptTokens int64
		ServiceTier, Start, End          string
		Prices                           struct{ Input, Output, CachedInput, PerRequest float64 }
	}
}

func TestModelConfigPricing(t *testing.T) {
	a := newAPI(t)
	type mc struct {
		InputPrice, OutputPrice, CachedPrice float64
		Pricing                              pricing
		Priced, SaveDetail                   bool
	}
	const fields = `inputPrice outputPrice cachedPrice priced saveDetail pricing { ` + pricingFields + ` }`
	var out struct{ CreateModelConfig mc }
	a.mustPost(t, `mutation { createModelConfig(input: {model: "claude-x", saveDetail: true, inputPrice: 1.5,
		pricing: {input: 1, output: 2, cacheWrite: 1.25, cacheWrite1h: 3, reasoning: 4, imageInput: 5, imageOutput: 6, audioInput: 7, audioOutput: 8, perRequest: 0.01,
		tiers: [{name: "long", minPromptTokens: 200000, prices: {input: 2, output: 4}}, {start: "16:30", end: "00:30", prices: {input: 0.5}}]}}) { `+fields+` } }`, &out)
	m := out.CreateModelConfig
	p := m.Pricing
	if m.InputPrice != 1.5 || p.Input != 1.5 || m.OutputPrice != 2 || p.CacheWrite != 1.25 || p.CacheWrite1h != 3 || p.Reasoning != 4 ||
		p.ImageInput != 5 || p.ImageOutput != 6 || p.AudioInput != 7 || p.AudioOutput != 8 || p.PerRequest != 0.01 || !m.Priced || !m.SaveDetail {
		t.Errorf("created %+v", m)
	}
	if len(p.Tiers) != 2 || p.Tiers[0].Name != "long" || p.Tiers[0].MinPromptTokens != 200000 || p.Tiers[0].Prices.Output != 4 ||
		p.Tiers[1].Start != "16:30" || p.Tiers[1].End != "00:30" || p.Tiers[1].Prices.Input != 0.5 {
		t.Errorf("tiers %+v", p.Tiers)
	}
	stored := a.storedModelConfig(t, "claude-x")
	if stored.Pricing.PerRequest != 10_000_000 || stored.Pricing.Input != 1_500_000_000 || len(stored.Pricing.Tiers) != 2 || !stored.SaveDetail {
		t.Errorf("stored %+v", stored.Pricing)
	}

	// One component changes alone; the whole price is replaced by pricing.
	var upd struct{ UpdateModelConfig mc }
	a.mustPost(t, `mutation { updateModelConfig(model: "claude-x", input: {outputPrice: 3, saveDetail: false}) { `+fields+` } }`, &upd)
	if u := upd.UpdateModelConfig; u.OutputPrice != 3 || u.InputPrice != 1.5 || u.Pricing.CacheWrite1h != 3 || len(u.Pricing.Tiers) != 2 || u.SaveDetail {
		t.Errorf("after outputPrice: %+v", u)
	}
	a.mustPost(t, `mutation { updateModelConfig(model: "claude-x", input: {pricing: {free: true}}) { `+fields+` } }`, &upd)
	if u := upd.UpdateModelConfig; !u.Pricing.Free || u.InputPrice != 0 || len(u.Pricing.Tiers) != 0 || !u.Priced {
		t.Errorf("after free pricing: %+v", u)
	}
	a.mustPost(t, `mutation { updateModelConfig(model: "claude-x", input: {pricing: {}}) { `+fields+` } }`, &upd)
	if upd.UpdateModelConfig.Priced {
		t.Errorf("an all-zero price without free is priced: %+v", upd.UpdateModelConfig)
	}

	tests := []struct{ name, query, field string }{
		{"tier without condition", `mutation { createModelConfig(input: {model: "y", pricing: {input: 1, tiers: [{prices: {input: 2}}]}}) { model } }`, "pricing.tiers[0]"},
		{"half a window", `mutation { createModelConfig(input: {model: "y", pricing: {tiers: [{start: "10:00", prices: {input: 2}}]}}) { model } }`, "pricing.tiers[0].end"},
		{"negative component", `mutation { updateModelConfig(model: "claude-x", input: {pricing: {audioOutput: -1}}) { model } }`, "pricing.audioOutput"},
		{"negative per request", `mutation { createModelConfig(input: {model: "y", pricing: {perRequest: -0.1}}) { model } }`, "pricing.perRequest"},
		{"per request beyond int64", `mutation { createModelConfig(input: {model: "y", pricing: {perRequest: 1e11}}) { model } }`, "perRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, a.post(t, tt.query, nil), "INVALID", tt.field)
		})
	}
}

func TestPriceCatalogue(t *testing.T) {
	a := newAPI(t)
	builtin := aiproxy.BuiltinCatalogue()
	first := builtin.Entries[0]
	a.createModelConfig(t, `model: "`+first.Model+`", inputPrice: 9`)
	var out struct {
		PriceCatalogue struct {
			Date, Source, Currency string
			Entries                []struct {
				Model, Provider, Type string
				Source                *string
				Pricing               pricing
				Overridden            bool
			}
		}
	}
	a.mustPost(t, `{ priceCatalogue { date source currency entries { model provider type source overridden pricing { `+pricingFields+` } } } }`, &out)
	c := out.PriceCatalogue
	if c.Date != builtin.Date || c.Source != builtin.Source || c.Currency != builtin.Currency || len(c.Entries) != len(builtin.Entries) {
		t.Fatalf("catalogue %s %s %s with %d entries, want %d", c.Date, c.Source, c.Currency, len(c.Entries), len(builtin.Entries))
	}
	for i, e := range c.Entries {
		want := builtin.Entries[i]
		if e.Model != want.Model || e.Provider != want.Provider || e.Pricing.Input != aiproxy.Amount(want.Pricing.Input).Float() ||
			e.Pricing.Output != aiproxy.Amount(want.Pricing.Output).Float() || len(e.Pricing.Tiers) != len(want.Pricing.Tiers) {
			t.Errorf("entry %d: %+v, want %+v", i, e, want)
		}
		if e.Overridden != (i == 0) {
			t.Errorf("entry %s overridden %v", e.Model, e.Overridden)
		}
	}
}

func TestNonFiniteInput(t *testing.T) {
	a := newAPI(t)
	a.createGroup(t, `id: "acme"`)
	for _, tt := range []struct{ query, v, field string }{
		{`mutation($v: Float!) { createGroup(input: {id: "x", rpmRatio: $v}) { id } }`, "NaN", "rpmRatio"},
		{`mutation($v: Float!) { updateGroup(id: "acme", input: {tpmRatio: $v}) { id } }`, "+Inf", "tpmRatio"},
		{`mutation($v: Float!) { topUpBalance(group: "acme", amount: $v, reason: "r") { id } }`, "NaN", "amount"},
		{`mutation($v: Float!) { adjustBalance(group: "acme", amount: $v, reason: "r") { id } }`, "-Inf", "amount"},
		{`mutation($v: Float!) { createToken(input: {group: "acme", name: "t", quota: $v}) { key } }`, "NaN", "quota"},
	} {
		errs := a.post(t, tt.query, nil, client.Var("v", tt.v))
		wantError(t, errs, "INVALID", tt.field)
	}
	if groups, _ := a.svc.Groups(context.Background()); len(groups) != 1 || groups[0].TPMRatio != 0 {
		t.Errorf("groups after non-finite input: %+v", groups[0])
	}
}

func TestTokenLimitPerGroup(t *testing.T) {
	a := newAPI(t)
	a.svc.MaxTokensPerGroup = 1
	a.createGroup(t, `id: "acme"`)
	a.createToken(t, `group: "acme", name: "one"`)
	e := wantError(t, a.post(t, `mutation { createToken(input: {group: "acme", name: "two"}) { key } }`, nil), "FORBIDDEN", "")
	if e.Extensions["reason"] != "token_limit" {
		t.Errorf("reason %v, want token_limit", e.Extensions["reason"])
	}
}

func TestUsageAfterCharges(t *testing.T) {
	a := newAPI(t)
	ctx := context.Background()
	a.createGroup(t, `id: "acme", prepaid: true`)
	a.mustPost(t, `mutation { topUpBalance(group: "acme", amount: 5, reason: "start") { id } }`, nil)
	tk, _ := a.createToken(t, `group: "acme", name: "ci", quota: 3, periodQuota: 1, period: DAILY`)
	id, _ := strconv.ParseInt(tk.ID, 10, 64)
	start := aiproxy.PeriodDaily.Start(time.Now(), time.UTC)
	l := store.NewLedger(a.svc, store.LedgerOptions{})
	l.Charge(aiproxy.Charge{TokenID: id, GroupID: "acme", Amount: 250_000_000, Requests: 1, PeriodStart: start})
	l.Charge(aiproxy.Charge{TokenID: id, GroupID: "acme", Amount: 1_000_000_000, Requests: 1, PeriodStart: start})
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Token quotaToken
		Group struct {
			Balance, UsedAmount float64
			RequestCount        int64
		}
	}
	a.mustPost(t, `{ token(id: "`+tk.ID+`") { id `+quotaTokenFields+` } group(id: "acme") { balance usedAmount requestCount } }`, &out)
	u := out.Token
	if u.UsedAmount != 1.25 || u.RequestCount != 2 || u.PeriodUsed != 1.25 || u.RemainingQuota == nil || *u.RemainingQuota != 1.75 ||
		u.RemainingPeriodQuota == nil || *u.RemainingPeriodQuota != 0 {
		t.Errorf("token after charges %+v", u)
	}
	if g := out.Group; g.Balance != 3.75 || g.UsedAmount != 1.25 || g.RequestCount != 2 {
		t.Errorf("group after charges %+v", g)
	}
}
