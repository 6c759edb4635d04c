package aiproxy_test

import (
	"testing"
	"time"

	"github.com/aiproxy/aiproxy"
)

func TestBuiltinCatalogue(t *testing.T) {
	c := aiproxy.BuiltinCatalogue()
	if c.Date == "" || c.Source == "" || c.Currency != "USD" || len(c.Entries) < 40 {
		t.Fatalf("catalogue: date %q source %q currency %q, %d entries", c.Date, c.Source, c.Currency, len(c.Entries))
	}
	providers := map[string]bool{}
	for _, e := range c.Entries {
		if !e.Pricing.Priced() || !e.Mode.Valid() {
			t.Errorf("%s: priced %v, mode %q", e.Model, e.Pricing.Priced(), e.Mode)
		}
		providers[e.Provider] = true
	}
	for _, p := range []string{"openai", "anthropic", "google", "deepseek", "alibaba", "zhipu", "mistral", "groq", "together", "fireworks"} {
		if !providers[p] {
			t.Errorf("no model of %s", p)
		}
	}
	// Spot checks, so that a bad edit fails: per million tokens.
	for _, c := range []struct {
		model         string
		input, output float64
	}{
		{"gpt-4o", 2.5, 10},
		{"gpt-4o-mini", 0.15, 0.6},
		{"claude-sonnet-4-20250514", 3, 15},
		{"gemini-2.5-pro", 1.25, 10},
	} {
		e, ok := aiproxy.BuiltinCatalogue().Lookup(c.model)
		if !ok || aiproxy.Amount(e.Pricing.Input).Float() != c.input || aiproxy.Amount(e.Pricing.Output).Float() != c.output {
			t.Errorf("%s: %+v", c.model, e)
		}
	}
}

func TestCatalogueLookup(t *testing.T) {
	c := aiproxy.BuiltinCatalogue()
	for _, name := range []string{"gpt-4o", "GPT-4o", "openai/gpt-4o", "gpt-4o:latest", "gpt-4o@2024-08-06", "claude-3-5-haiku-latest",
		"meta-llama/Llama-3.3-70B-Instruct-Turbo", "accounts/fireworks/models/llama-v3p3-70b-instruct"} {
		if _, ok := c.Lookup(name); !ok {
			t.Errorf("%q not found", name)
		}
	}
	if _, ok := c.Lookup("no-such-model"); ok {
		t.Error("unknown model found")
	}
	if _, ok := (*aiproxy.Catalogue)(nil).Lookup("gpt-4o"); ok {
		t.Error("nil catalogue found a model")
	}
	if _, err := aiproxy.ParseCatalogue([]byte(`{"models":[{"model":"a","prices":{"input":1}},{"model":"A","prices":{"input":1}}]}`)); err == nil {
		t.Error("a model listed twice is accepted")
	}
	if _, err := aiproxy.ParseCatalogue([]byte(`{"models":[{"model":"a","prices":{"input":-1}}]}`)); err == nil {
		t.Error("a negative price is accepted")
	}
}

// TestCatalogueTiers: Sonnet 4 over 200k prompt tokens and GPT-5's
// flex tier take their tier's prices.
func TestCatalogueTiers(t *testing.T) {
	c := aiproxy.BuiltinCatalogue()
	sonnet, _ := c.Lookup("claude-sonnet-4")
	at := time.Now()
	short := sonnet.Pricing.Cost(aiproxy.Usage{PromptTokens: 1000, CompletionTokens: 1000}, "", at).Total()
	long := sonnet.Pricing.Cost(aiproxy.Usage{PromptTokens: 250_000, CompletionTokens: 1000}, "", at).Total()
	if short != aiproxy.AmountFromFloat(0.003+0.015) || long != aiproxy.AmountFromFloat(250_000*6e-6+0.0225) {
		t.Errorf("sonnet 4: short %v long %v", short.Float(), long.Float())
	}
	gpt5, _ := c.Lookup("gpt-5")
	if got := gpt5.Pricing.Cost(aiproxy.Usage{PromptTokens: 1_000_000}, "flex", at).Total(); got != aiproxy.AmountFromFloat(0.625) {
		t.Errorf("gpt-5 flex: %v", got.Float())
	}
}
