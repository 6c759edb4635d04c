package aiproxy_test

import (
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

const perM = aiproxy.Price(aiproxy.AmountUnit) // 1 currency unit per million tokens: 1,000 nanos a token

// TestCostComponents prices every component apart, with the fallbacks.
func TestCostComponents(t *testing.T) {
	p := aiproxy.Pricing{Prices: aiproxy.Prices{
		Input: 2 * perM, Output: 8 * perM, CachedInput: perM / 2, CacheWrite: 3 * perM, CacheWrite1h: 4 * perM,
		Reasoning: 10 * perM, ImageInput: 5 * perM, ImageOutput: 40 * perM, AudioInput: 6 * perM, AudioOutput: 20 * perM,
		PerRequest: 1000,
	}}
	u := aiproxy.Usage{
		PromptTokens: 10_000, CachedTokens: 1000, CacheCreationTokens: 3000, CacheCreation1hTokens: 1000,
		ImageInputTokens: 500, AudioInputTokens: 200,
		CompletionTokens: 5000, ReasoningTokens: 2000, ImageOutputTokens: 100, AudioOutputTokens: 50, Requests: 1,
	}
	got := p.Cost(u, "", time.Now())
	want := aiproxy.Cost{
		Input:        5300 * 2000, // 10000 − 1000 − 3000 − 500 − 200
		CachedInput:  1000 * 500,
		CacheWrite:   2000 * 3000,
		CacheWrite1h: 1000 * 4000,
		ImageInput:   500 * 5000,
		AudioInput:   200 * 6000,
		Output:       2850 * 8000, // 5000 − 2000 − 100 − 50
		Reasoning:    2000 * 10000,
		ImageOutput:  100 * 40000,
		AudioOutput:  50 * 20000,
		Request:      1000,
	}
	if got != want {
		t.Fatalf("cost\n got %+v\nwant %+v", got, want)
	}
	if got.Total() != 5300*2000+1000*500+2000*3000+1000*4000+500*5000+200*6000+2850*8000+2000*10000+100*40000+50*20000+1000 {
		t.Errorf("total %d", got.Total())
	}

	// Parts without a price of their own cost what their whole costs.
	base := aiproxy.Pricing{Prices: aiproxy.Prices{Input: 2 * perM, Output: 8 * perM}}
	got = base.Cost(u, "", time.Now())
	if got.Total() != 10_000*2000+5000*8000 {
		t.Errorf("with fallbacks: %+v (total %d), want every prompt token at input and every completion token at output", got, got.Total())
	}
	// 1-hour writes fall back to the 5-minute price before the input price.
	w := aiproxy.Pricing{Prices: aiproxy.Prices{Input: perM, CacheWrite: 3 * perM}}
	if c := w.Cost(aiproxy.Usage{PromptTokens: 10, CacheCreationTokens: 10, CacheCreation1hTokens: 10}, "", time.Now()); c.CacheWrite1h != 30_000 || c.Input != 0 {
		t.Errorf("1h write fallback: %+v", c)
	}
	// Inconsistent counts never give negative components.
	if c := base.Cost(aiproxy.Usage{PromptTokens: 5, CachedTokens: 10, CompletionTokens: 1, ReasoningTokens: 3}, "", time.Now()); c.Input < 0 || c.Output < 0 {
		t.Errorf("negative component: %+v", c)
	}
}

// TestPriceTiers: the most specific matching tier wins, the first
// listed among equals; a tier's zero prices keep the base's.
func TestPriceTiers(t *testing.T) {
	p := aiproxy.Pricing{
		Prices: aiproxy.Prices{Input: 3 * perM, Output: 15 * perM},
		Tiers: []aiproxy.PriceTier{
			{Name: "long", MinPromptTokens: 200_001, Prices: aiproxy.Prices{Input: 6 * perM, Output: 22 * perM}},
			{Name: "long-again", MinPromptTokens: 100_000, Prices: aiproxy.Prices{Input: 99 * perM}},
			{Name: "flex", ServiceTier: "flex", Prices: aiproxy.Prices{Input: perM}},
			{Name: "long flex", MinPromptTokens: 200_001, ServiceTier: "flex", Prices: aiproxy.Prices{Output: 11 * perM}},
			{Name: "night", Start: "16:30", End: "00:30", Prices: aiproxy.Prices{Input: perM / 2}},
		},
	}
	if err := p.Validate("pricing"); err != nil {
		t.Fatal(err)
	}
	noon := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	night := time.Date(2026, 1, 1, 23, 59, 0, 0, time.UTC)
	early := time.Date(2026, 1, 2, 0, 29, 0, 0, time.UTC)
	late := time.Date(2026, 1, 2, 0, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		name        string
		prompt      int64
		tier        string
		at          time.Time
		input, outp aiproxy.Price
	}{
		{"base", 1000, "", noon, 3 * perM, 15 * perM},
		{"long prompt", 250_000, "", noon, 6 * perM, 22 * perM},
		{"between the two long tiers: the one matching", 150_000, "", noon, 99 * perM, 15 * perM},
		{"service tier, case-insensitive", 1000, "Flex", noon, perM, 15 * perM},
		{"two conditions beat one; zero keeps the base", 250_000, "flex", noon, 3 * perM, 11 * perM},
		{"window wrapping midnight, before it", 1000, "", night, perM / 2, 15 * perM},
		{"window wrapping midnight, after it", 1000, "", early, perM / 2, 15 * perM},
		{"window end is exclusive", 1000, "", late, 3 * perM, 15 * perM},
	} {
		u := aiproxy.Usage{PromptTokens: c.prompt}
		pr := p.PricesFor(&u, c.tier, c.at)
		if pr.Input != c.input || pr.Output != c.outp {
			t.Errorf("%s: input %d output %d, want %d %d", c.name, pr.Input, pr.Output, c.input, c.outp)
		}
	}
	for _, bad := range []aiproxy.PriceTier{
		{Prices: aiproxy.Prices{Input: 1}},                 // no condition
		{Start: "16:30", Prices: aiproxy.Prices{Input: 1}}, // no end
		{Start: "25:00", End: "01:00", Prices: aiproxy.Prices{Input: 1}},
		{MinPromptTokens: 10, MaxPromptTokens: 5},
		{ServiceTier: "x", Prices: aiproxy.Prices{Input: -1}},
	} {
		if err := (&aiproxy.Pricing{Tiers: []aiproxy.PriceTier{bad}}).Validate("pricing"); aiproxy.ErrorCode(err) != aiproxy.EINVALID || aiproxy.ErrorField(err) == "" {
			t.Errorf("tier %+v: %v, want EINVALID with a field", bad, err)
		}
	}
}

func TestPriced(t *testing.T) {
	for _, c := range []struct {
		p    *aiproxy.Pricing
		want bool
	}{
		{nil, false},
		{&aiproxy.Pricing{}, false},
		{&aiproxy.Pricing{Free: true}, true},
		{&aiproxy.Pricing{Prices: aiproxy.Prices{PerRequest: 1}}, true},
		{&aiproxy.Pricing{Tiers: []aiproxy.PriceTier{{ServiceTier: "x"}}}, true},
	} {
		if got := c.p.Priced(); got != c.want {
			t.Errorf("%+v: priced %v", c.p, got)
		}
	}
}

// TestEffective: the group's override beats the model config, which
// beats the catalogue; ratios scale the model's limits only.
func TestEffective(t *testing.T) {
	g := &aiproxy.Group{ID: "acme", RPMRatio: 2, TPMRatio: 0.5}
	mc := &aiproxy.ModelConfig{Model: "m", RPM: 100, TPM: 1000, MaxAttempts: 2, Timeout: time.Minute}
	ce := &aiproxy.CatalogueEntry{Model: "m", Pricing: aiproxy.Pricing{Prices: aiproxy.Prices{Input: perM}}}
	e := aiproxy.Effective("m", g, mc, nil, ce)
	if e.RPM != 200 || e.TPM != 500 || e.RPMSource != aiproxy.SourceModel || e.PriceSource != aiproxy.SourceCatalogue || e.Pricing.Input != perM || e.MaxAttempts != 2 || e.Timeout != time.Minute {
		t.Errorf("model + catalogue: %+v", e)
	}
	mc.Pricing = aiproxy.Pricing{Prices: aiproxy.Prices{Input: 2 * perM}}
	rpm, save, attempts := int64(7), true, 1
	o := &aiproxy.GroupModelConfig{GroupID: "acme", Model: "m", RPM: &rpm, SaveDetail: &save, MaxAttempts: &attempts, Pricing: &aiproxy.Pricing{Free: true}}
	e = aiproxy.Effective("m", g, mc, o, ce)
	if e.RPM != 7 || e.RPMSource != aiproxy.SourceGroup || e.TPM != 500 || !e.SaveDetail || e.MaxAttempts != 1 || e.PriceSource != aiproxy.SourceGroup || !e.Pricing.Free {
		t.Errorf("override: %+v", e)
	}
	if e := aiproxy.Effective("x", nil, nil, nil, nil); e.Pricing != nil || e.RPM != 0 || e.PriceSource != "" {
		t.Errorf("nothing known: %+v", e)
	}
	if e := aiproxy.Effective("m", &aiproxy.Group{RPMRatio: 0.001}, &aiproxy.ModelConfig{RPM: 10}, nil, nil); e.RPM != 1 {
		t.Errorf("a tiny ratio keeps a limit of 1, got %d", e.RPM)
	}
}

func TestQuotaPeriods(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	at := time.Date(2026, 3, 4, 23, 30, 0, 0, time.UTC) // Thursday 5 March 00:30 in Berlin
	for _, c := range []struct {
		p    aiproxy.QuotaPeriod
		loc  *time.Location
		want time.Time
	}{
		{aiproxy.PeriodDaily, nil, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)},
		{aiproxy.PeriodDaily, berlin, time.Date(2026, 3, 5, 0, 0, 0, 0, berlin)},
		{aiproxy.PeriodWeekly, nil, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		{aiproxy.PeriodMonthly, berlin, time.Date(2026, 3, 1, 0, 0, 0, 0, berlin)},
		{aiproxy.PeriodNone, nil, time.Time{}},
	} {
		if got := c.p.Start(at, c.loc); !got.Equal(c.want) {
			t.Errorf("%s in %v: %v, want %v", c.p, c.loc, got, c.want)
		}
	}
	start := aiproxy.PeriodMonthly.Start(at, nil)
	tok := &aiproxy.Token{Period: aiproxy.PeriodMonthly, PeriodUsed: 5, PeriodStart: start}
	if tok.PeriodUsedAt(at, nil) != 5 || tok.PeriodUsedAt(start.AddDate(0, 1, 0), nil) != 0 {
		t.Error("PeriodUsedAt: a new period starts at 0")
	}
	if err := (&aiproxy.Token{GroupID: "g", Name: "n", PeriodQuota: 5}).Validate(); aiproxy.ErrorField(err) != "period" {
		t.Errorf("period quota without a period: %v", err)
	}
}

func TestGroupPrepaid(t *testing.T) {
	g := &aiproxy.Group{ID: "g", UsedAmount: 500}
	on := true
	aiproxy.GroupUpdate{Prepaid: &on}.Apply(g)
	if !g.Prepaid || g.Balance() != 0 {
		t.Errorf("turned prepaid: balance %d, want 0", g.Balance())
	}
}
