package aiproxy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Prices are the prices of one model's usage components. Token prices are
// per million tokens (Price); PerRequest is per billable request. A zero
// price of a part of the prompt or of the completion falls back to the
// price of the whole (Fallback): CachedInput, CacheWrite, ImageInput and
// AudioInput to Input, CacheWrite1h to CacheWrite, Reasoning, ImageOutput
// and AudioOutput to Output.
type Prices struct {
	Input        Price  `json:"input,omitempty"`
	Output       Price  `json:"output,omitempty"`
	CachedInput  Price  `json:"cachedInput,omitempty"`  // prompt tokens read from the prompt cache
	CacheWrite   Price  `json:"cacheWrite,omitempty"`   // prompt tokens written to the cache (5-minute TTL, or the only one)
	CacheWrite1h Price  `json:"cacheWrite1h,omitempty"` // prompt tokens written with a 1-hour TTL
	Reasoning    Price  `json:"reasoning,omitempty"`    // completion tokens spent reasoning, where priced apart
	ImageInput   Price  `json:"imageInput,omitempty"`
	ImageOutput  Price  `json:"imageOutput,omitempty"`
	AudioInput   Price  `json:"audioInput,omitempty"`
	AudioOutput  Price  `json:"audioOutput,omitempty"`
	PerRequest   Amount `json:"perRequest,omitempty"`
}

// IsZero reports whether every price is 0.
func (p Prices) IsZero() bool { return p == Prices{} }

// Fallback returns p with each zero price of a part replaced by the price
// of its whole, as Prices documents.
func (p Prices) Fallback() Prices {
	or := func(v, def Price) Price {
		if v == 0 {
			return def
		}
		return v
	}
	p.CachedInput = or(p.CachedInput, p.Input)
	p.CacheWrite = or(p.CacheWrite, p.Input)
	p.CacheWrite1h = or(p.CacheWrite1h, p.CacheWrite)
	p.ImageInput = or(p.ImageInput, p.Input)
	p.AudioInput = or(p.AudioInput, p.Input)
	p.Reasoning = or(p.Reasoning, p.Output)
	p.ImageOutput = or(p.ImageOutput, p.Output)
	p.AudioOutput = or(p.AudioOutput, p.Output)
	return p
}

// over returns p with every non-zero price of o in place of p's.
func (p Prices) over(o Prices) Prices {
	set := func(dst *Price, v Price) {
		if v != 0 {
			*dst = v
		}
	}
	set(&p.Input, o.Input)
	set(&p.Output, o.Output)
	set(&p.CachedInput, o.CachedInput)
	set(&p.CacheWrite, o.CacheWrite)
	set(&p.CacheWrite1h, o.CacheWrite1h)
	set(&p.Reasoning, o.Reasoning)
	set(&p.ImageInput, o.ImageInput)
	set(&p.ImageOutput, o.ImageOutput)
	set(&p.AudioInput, o.AudioInput)
	set(&p.AudioOutput, o.AudioOutput)
	if o.PerRequest != 0 {
		p.PerRequest = o.PerRequest
	}
	return p
}

func (p Prices) validate(field string) error {
	for name, v := range map[string]Price{"input": p.Input, "output": p.Output, "cachedInput": p.CachedInput,
		"cacheWrite": p.CacheWrite, "cacheWrite1h": p.CacheWrite1h, "reasoning": p.Reasoning,
		"imageInput": p.ImageInput, "imageOutput": p.ImageOutput, "audioInput": p.AudioInput, "audioOutput": p.AudioOutput} {
		if v < 0 {
			return FieldErrorf(field+"."+name, "%s must not be negative", name)
		}
	}
	if p.PerRequest < 0 {
		return FieldErrorf(field+".perRequest", "perRequest must not be negative")
	}
	return nil
}

// Pricing is what a model costs: base Prices and conditional tiers. For
// each request the most specific matching tier (the one with the most
// conditions, the first listed among equals) applies its non-zero prices
// over the base ones; with no tier matching, the base prices apply.
//
// A Pricing whose prices are all zero, with no tier, is unpriced unless
// Free is set: the gateway serves such a model, but logs its requests as
// unpriced rather than free.
type Pricing struct {
	Prices
	Free  bool        `json:"free,omitempty"`
	Tiers []PriceTier `json:"tiers,omitempty"`
}

// Priced reports whether p says what the model costs (Free included).
func (p *Pricing) Priced() bool {
	return p != nil && (p.Free || !p.Prices.IsZero() || len(p.Tiers) > 0)
}

// PriceTier is a conditional price. Each condition set must hold: the
// request's prompt tokens in [MinPromptTokens, MaxPromptTokens] (a 0
// bound is open), its service tier equal to ServiceTier, the time of day
// (UTC) in [Start, End), a window that may wrap midnight ("16:30" to
// "00:30").
type PriceTier struct {
	Name            string `json:"name,omitempty"`
	MinPromptTokens int64  `json:"minPromptTokens,omitempty"`
	MaxPromptTokens int64  `json:"maxPromptTokens,omitempty"`
	ServiceTier     string `json:"serviceTier,omitempty"`
	Start           string `json:"start,omitempty"` // "HH:MM" UTC
	End             string `json:"end,omitempty"`   // "HH:MM" UTC
	Prices          Prices `json:"prices"`
}

// conditions counts the tier's conditions: its specificity.
func (t *PriceTier) conditions() int {
	n := 0
	if t.MinPromptTokens > 0 || t.MaxPromptTokens > 0 {
		n++
	}
	if t.ServiceTier != "" {
		n++
	}
	if t.Start != "" {
		n++
	}
	return n
}

// matches reports whether the tier applies to a request with u and
// serviceTier at time at.
func (t *PriceTier) matches(u *Usage, serviceTier string, at time.Time) bool {
	if t.MinPromptTokens > 0 && u.PromptTokens < t.MinPromptTokens {
		return false
	}
	if t.MaxPromptTokens > 0 && u.PromptTokens > t.MaxPromptTokens {
		return false
	}
	if t.ServiceTier != "" && !strings.EqualFold(t.ServiceTier, serviceTier) {
		return false
	}
	if t.Start != "" {
		start, _ := parseClock(t.Start)
		end, _ := parseClock(t.End)
		at = at.UTC()
		m := at.Hour()*60 + at.Minute()
		if start <= end {
			return m >= start && m < end
		}
		return m >= start || m < end
	}
	return true
}

// parseClock parses "HH:MM" into minutes after midnight.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("want HH:MM")
	}
	return hh*60 + mm, nil
}

// Validate checks p; it returns an EINVALID *Error naming the field
// (prefixed by field).
func (p *Pricing) Validate(field string) error {
	if err := p.Prices.validate(field); err != nil {
		return err
	}
	for i := range p.Tiers {
		t := &p.Tiers[i]
		f := fmt.Sprintf("%s.tiers[%d]", field, i)
		if t.conditions() == 0 {
			return FieldErrorf(f, "a price tier needs a condition (prompt tokens, service tier or time window)")
		}
		if t.MinPromptTokens < 0 || t.MaxPromptTokens < 0 || (t.MaxPromptTokens > 0 && t.MaxPromptTokens < t.MinPromptTokens) {
			return FieldErrorf(f+".maxPromptTokens", "prompt token bounds must be non-negative, max at least min")
		}
		if (t.Start == "") != (t.End == "") {
			return FieldErrorf(f+".end", "a time window needs both start and end")
		}
		if t.Start != "" {
			if _, err := parseClock(t.Start); err != nil {
				return FieldErrorf(f+".start", "start: want HH:MM (UTC)")
			}
			if _, err := parseClock(t.End); err != nil {
				return FieldErrorf(f+".end", "end: want HH:MM (UTC)")
			}
		}
		if err := t.Prices.validate(f + ".prices"); err != nil {
			return err
		}
	}
	return nil
}

// PricesFor returns the prices that apply to a request with usage u and
// serviceTier at time at: the base prices with the most specific matching
// tier's over them, fallbacks applied (Prices.Fallback).
func (p *Pricing) PricesFor(u *Usage, serviceTier string, at time.Time) Prices {
	best := -1
	for i := range p.Tiers {
		t := &p.Tiers[i]
		if t.matches(u, serviceTier, at) && (best < 0 || t.conditions() > p.Tiers[best].conditions()) {
			best = i
		}
	}
	pr := p.Prices
	if best >= 0 {
		pr = pr.over(p.Tiers[best].Prices)
	}
	return pr.Fallback()
}

// Cost returns what usage u costs at p, component by component. The
// prompt's parts are priced apart (cached, cache writes by TTL, image,
// audio: the rest is text input), as are the completion's (reasoning,
// image, audio: the rest is text output); PerRequest is charged
// u.Requests times.
func (p *Pricing) Cost(u Usage, serviceTier string, at time.Time) Cost {
	pr := p.PricesFor(&u, serviceTier, at)
	write5m := u.CacheCreationTokens - u.CacheCreation1hTokens
	text := u.PromptTokens - u.CachedTokens - u.CacheCreationTokens - u.ImageInputTokens - u.AudioInputTokens
	out := u.CompletionTokens - u.ReasoningTokens - u.ImageOutputTokens - u.AudioOutputTokens
	return Cost{
		Input:        pr.Input.Cost(max(text, 0)),
		CachedInput:  pr.CachedInput.Cost(u.CachedTokens),
		CacheWrite:   pr.CacheWrite.Cost(max(write5m, 0)),
		CacheWrite1h: pr.CacheWrite1h.Cost(u.CacheCreation1hTokens),
		ImageInput:   pr.ImageInput.Cost(u.ImageInputTokens),
		AudioInput:   pr.AudioInput.Cost(u.AudioInputTokens),
		Output:       pr.Output.Cost(max(out, 0)),
		Reasoning:    pr.Reasoning.Cost(u.ReasoningTokens),
		ImageOutput:  pr.ImageOutput.Cost(u.ImageOutputTokens),
		AudioOutput:  pr.AudioOutput.Cost(u.AudioOutputTokens),
		Request:      pr.PerRequest * Amount(u.Requests),
	}
}

// Cost is what one request cost, component by component; Total is the
// amount billed.
type Cost struct {
	Input        Amount `json:"input,omitempty"`
	CachedInput  Amount `json:"cachedInput,omitempty"`
	CacheWrite   Amount `json:"cacheWrite,omitempty"`
	CacheWrite1h Amount `json:"cacheWrite1h,omitempty"`
	ImageInput   Amount `json:"imageInput,omitempty"`
	AudioInput   Amount `json:"audioInput,omitempty"`
	Output       Amount `json:"output,omitempty"`
	Reasoning    Amount `json:"reasoning,omitempty"`
	ImageOutput  Amount `json:"imageOutput,omitempty"`
	AudioOutput  Amount `json:"audioOutput,omitempty"`
	Request      Amount `json:"request,omitempty"`
}

// Total returns the sum of the components.
func (c Cost) Total() Amount {
	return c.Input + c.CachedInput + c.CacheWrite + c.CacheWrite1h + c.ImageInput + c.AudioInput +
		c.Output + c.Reasoning + c.ImageOutput + c.AudioOutput + c.Request
}

// Add adds d's components to c.
func (c *Cost) Add(d Cost) {
	c.Input += d.Input
	c.CachedInput += d.CachedInput
	c.CacheWrite += d.CacheWrite
	c.CacheWrite1h += d.CacheWrite1h
	c.ImageInput += d.ImageInput
	c.AudioInput += d.AudioInput
	c.Output += d.Output
	c.Reasoning += d.Reasoning
	c.ImageOutput += d.ImageOutput
	c.AudioOutput += d.AudioOutput
	c.Request += d.Request
}
