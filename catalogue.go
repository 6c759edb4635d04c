package aiproxy

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// The built-in price catalogue: list prices of widely used models, as
// data (catalogue.json), with the date they were read and where from. A
// model config's own prices override the catalogue's for that model.
//
//go:embed catalogue.json
var catalogueJSON []byte

// Catalogue is a list of model prices with its provenance.
type Catalogue struct {
	Date     string // when the prices were read, YYYY-MM-DD
	Source   string // where from
	Currency string // the currency unit of every price, e.g. "USD"
	Entries  []CatalogueEntry
	byModel  map[string]*CatalogueEntry
}

// CatalogueEntry is one model of the catalogue.
type CatalogueEntry struct {
	Model    string
	Provider string // who sells it at this price: openai, anthropic, google, deepseek, ...
	Mode     Mode
	Pricing  Pricing
	Source   string // the page the prices come from, when not the catalogue's
}

// catalogueFile is the on-disk form: prices in currency units per
// million tokens (PerRequest: per request), as price pages print them.
type catalogueFile struct {
	Date     string `json:"date"`
	Source   string `json:"source"`
	Currency string `json:"currency"`
	Models   []struct {
		Model    string     `json:"model"`
		Aliases  []string   `json:"aliases"`
		Provider string     `json:"provider"`
		Type     Mode       `json:"type"`
		Source   string     `json:"source"`
		Prices   filePrices `json:"prices"`
		Free     bool       `json:"free"`
		Tiers    []struct {
			Name            string     `json:"name"`
			MinPromptTokens int64      `json:"minPromptTokens"`
			MaxPromptTokens int64      `json:"maxPromptTokens"`
			ServiceTier     string     `json:"serviceTier"`
			Start           string     `json:"start"`
			End             string     `json:"end"`
			Prices          filePrices `json:"prices"`
		} `json:"tiers"`
	} `json:"models"`
}

type filePrices struct {
	Input, Output, CachedInput, CacheWrite, CacheWrite1h, Reasoning float64
	ImageInput, ImageOutput, AudioInput, AudioOutput, PerRequest    float64
}

func (f filePrices) prices() Prices {
	p := func(v float64) Price { return Price(AmountFromFloat(v)) }
	return Prices{
		Input: p(f.Input), Output: p(f.Output), CachedInput: p(f.CachedInput),
		CacheWrite: p(f.CacheWrite), CacheWrite1h: p(f.CacheWrite1h), Reasoning: p(f.Reasoning),
		ImageInput: p(f.ImageInput), ImageOutput: p(f.ImageOutput),
		AudioInput: p(f.AudioInput), AudioOutput: p(f.AudioOutput),
		PerRequest: AmountFromFloat(f.PerRequest),
	}
}

// ParseCatalogue parses a catalogue in the format of catalogue.json.
func ParseCatalogue(data []byte) (*Catalogue, error) {
	var f catalogueFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	c := &Catalogue{Date: f.Date, Source: f.Source, Currency: f.Currency, byModel: map[string]*CatalogueEntry{}}
	seen := map[string]bool{}
	for _, m := range f.Models {
		e := CatalogueEntry{Model: m.Model, Provider: m.Provider, Mode: m.Type, Source: m.Source,
			Pricing: Pricing{Prices: m.Prices.prices(), Free: m.Free}}
		if e.Mode == "" {
			e.Mode = ModeChat
		}
		for _, t := range m.Tiers {
			e.Pricing.Tiers = append(e.Pricing.Tiers, PriceTier{Name: t.Name, MinPromptTokens: t.MinPromptTokens,
				MaxPromptTokens: t.MaxPromptTokens, ServiceTier: t.ServiceTier, Start: t.Start, End: t.End, Prices: t.Prices.prices()})
		}
		if err := e.Pricing.Validate(m.Model); err != nil || !e.Mode.Valid() || m.Model == "" {
			return nil, fmt.Errorf("catalogue: model %q: invalid entry: %v", m.Model, err)
		}
		for _, name := range append([]string{m.Model}, m.Aliases...) {
			key := strings.ToLower(name)
			if seen[key] {
				return nil, fmt.Errorf("catalogue: model %q listed twice", name)
			}
			seen[key] = true
			alias := e
			alias.Model = name
			c.Entries = append(c.Entries, alias)
		}
	}
	sort.SliceStable(c.Entries, func(i, j int) bool { return c.Entries[i].Model < c.Entries[j].Model })
	for i := range c.Entries {
		c.byModel[strings.ToLower(c.Entries[i].Model)] = &c.Entries[i]
	}
	return c, nil
}

// Lookup returns the entry of model: by its name (case-insensitively),
// else by the name after its last "/" (a host's "openai/gpt-4o"), else
// by the name before a ":" or "@" suffix (a version tag).
func (c *Catalogue) Lookup(model string) (*CatalogueEntry, bool) {
	if c == nil {
		return nil, false
	}
	key := strings.ToLower(model)
	if e, ok := c.byModel[key]; ok {
		return e, true
	}
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		if e, ok := c.byModel[key[i+1:]]; ok {
			return e, true
		}
		key = key[i+1:]
	}
	if i := strings.IndexAny(key, ":@"); i > 0 {
		if e, ok := c.byModel[key[:i]]; ok {
			return e, true
		}
	}
	return nil, false
}

// BuiltinCatalogue returns the catalogue built into the binary, parsed
// once. It panics if the embedded data is malformed, which a test rules
// out.
var BuiltinCatalogue = sync.OnceValue(func() *Catalogue {
	c, err := ParseCatalogue(catalogueJSON)
	if err != nil {
		panic(err)
	}
	return c
})
