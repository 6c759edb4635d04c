package models

import (
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiproxy/aiproxy"
	"github.com/aiproxy/aiproxy/views/web"
)

// The inputs of the forms, named as the errors of aiproxy's Validate
// methods name them (a price's without its "pricing." prefix).
const (
	fieldModel        = "model"
	fieldType         = "type"
	fieldFree         = "free"
	fieldRPM          = "rpm"
	fieldTPM          = "tpm"
	fieldMaxAttempts  = "maxAttempts"
	fieldTimeout      = "timeoutSeconds"
	fieldFirstEvent   = "firstEventTimeoutSeconds"
	fieldSaveDetail   = "saveDetail"
	fieldGroup        = "group"
	fieldPricePrefix  = "pricing."
	maxPriceUnits     = 1e9 // a price or amount in currency units; its nanos fit an int64
	maxTimeoutSeconds = 3600
)

// priceField is one price of a form: its input's name (as the errors
// name it), its label, and where it lives in aiproxy.Prices.
type priceField struct {
	Name, Label string
	PerRequest  bool
	get         func(*aiproxy.Prices) *aiproxy.Price
}

// priceFields are the prices the forms edit, in the order shown.
var priceFields = []priceField{
	{Name: "input", Label: "Input", get: func(p *aiproxy.Prices) *aiproxy.Price { return &p.Input }},
	{Name: "output", Label: "Output", get: func(p *aiproxy.Prices) *aiproxy.Price { return &p.Output }},
	{Name: "cachedInput", Label: "Cached input", get: func(p *aiproxy.Prices) *aiproxy.Price { return &p.CachedInput }},
	{Name: "cacheWrite", Label: "Cache write", get: func(p *aiproxy.Prices) *aiproxy.Price { return &p.CacheWrite }},
	{Name: "cacheWrite1h", Label: "Cache write (1 h)", get: func(p *aiproxy.Prices) *aiproxy.Price { return &p.CacheWrite1h }},
	{Name: "reasoning", Label: "Reasoning", get: func(p *aiproxy.Prices) *aiproxy.Price { return &p.Reasoning }},
	{Name: "imageInput", Label: "Image input", get: func(p *aiproxy.Prices) *aiproxy.Price { return &p.ImageInput }},
	{Name: "imageOutput", Label: "Image output", get: func(p *aiproxy.Prices) *aiproxy.Price { return &p.ImageOutput }},
	{Name: "audioInput", Label: "Audio input", get: func(p *aiproxy.Prices) *aiproxy.Price { return &p.AudioInput }},
	{Name: "audioOutput", Label: "Audio output", get: func(p *aiproxy.Prices) *aiproxy.Price { return &p.AudioOutput }},
	{Name: "perRequest", Label: "Per request", PerRequest: true},
}

// configFields are the inputs of the config form, where errors are shown.
var configFields = func() []string {
	out := []string{fieldModel, fieldType, fieldFree, fieldRPM, fieldTPM, fieldMaxAttempts, fieldTimeout, fieldFirstEvent, fieldSaveDetail}
	for _, p := range priceFields {
		out = append(out, p.Name)
	}
	return out
}()

// overrideFields are the inputs of the override form.
var overrideFields = []string{fieldGroup, fieldRPM, fieldTPM, fieldMaxAttempts, fieldTimeout, fieldFirstEvent, fieldSaveDetail,
	"input", "output", "cachedInput"}

// placeErrors moves each error to the input showing it: a price's
// ("pricing.input") to its input ("input"), one naming no input of
// fields (a price tier's) to the form's own.
func placeErrors(errs web.FieldErrors, fields []string) web.FieldErrors {
	out := web.FieldErrors{}
	for f, msg := range errs {
		f = strings.TrimPrefix(f, fieldPricePrefix)
		if !slices.Contains(fields, f) {
			f = ""
		}
		out[f] = msg
	}
	return out
}

// configForm is the config form's values as typed, and its errors.
type configForm struct {
	Editing                                    bool // the model exists: its name is fixed
	Model                                      string
	Type                                       string
	Prices                                     map[string]string // by priceField.Name
	Free                                       bool
	RPM, TPM, MaxAttempts, Timeout, FirstEvent string
	SaveDetail                                 bool
	// Tiers is the number of price tiers of the stored config, kept by
	// an update (the form does not edit them).
	Tiers  int
	Errors web.FieldErrors
}

// newConfigForm returns the create form of model name (maybe empty),
// its type the catalogue's when it lists the model.
func newConfigForm(name string, cat *aiproxy.Catalogue) configForm {
	f := configForm{Model: name, Type: string(aiproxy.ModeChat), Prices: map[string]string{}}
	if e, ok := cat.Lookup(name); ok && name != "" {
		f.Type = string(e.Mode)
	}
	return f
}

// formOf returns the edit form of mc.
func formOf(mc *aiproxy.ModelConfig) configForm {
	f := configForm{Editing: true, Model: mc.Model, Type: string(mc.Mode), Prices: pricesOf(mc.Pricing.Prices),
		Free: mc.Pricing.Free, RPM: zeroEmpty(mc.RPM), TPM: zeroEmpty(mc.TPM), MaxAttempts: zeroEmpty(int64(mc.MaxAttempts)),
		Timeout: secondsOf(mc.Timeout), FirstEvent: secondsOf(mc.FirstEventTimeout), SaveDetail: mc.SaveDetail,
		Tiers: len(mc.Pricing.Tiers)}
	return f
}

// pricesOf returns p as the form shows it: each non-zero price in
// currency units, empty for 0.
func pricesOf(p aiproxy.Prices) map[string]string {
	m := map[string]string{}
	for _, pf := range priceFields {
		var a aiproxy.Amount
		if pf.PerRequest {
			a = p.PerRequest
		} else {
			a = aiproxy.Amount(*pf.get(&p))
		}
		if a != 0 {
			m[pf.Name] = units(a)
		}
	}
	return m
}

// readConfigForm reads the posted config form.
func readConfigForm(v url.Values) configForm {
	f := configForm{Model: strings.TrimSpace(v.Get(fieldModel)), Type: v.Get(fieldType), Prices: map[string]string{},
		Free: v.Get(fieldFree) != "", RPM: strings.TrimSpace(v.Get(fieldRPM)), TPM: strings.TrimSpace(v.Get(fieldTPM)),
		MaxAttempts: strings.TrimSpace(v.Get(fieldMaxAttempts)), Timeout: strings.TrimSpace(v.Get(fieldTimeout)),
		FirstEvent: strings.TrimSpace(v.Get(fieldFirstEvent)), SaveDetail: v.Get(fieldSaveDetail) != ""}
	for _, pf := range priceFields {
		if s := strings.TrimSpace(v.Get(pf.Name)); s != "" {
			f.Prices[pf.Name] = s
		}
	}
	return f
}

// readPrices reads the typed prices of names, and whether any was typed;
// an EINVALID error names the input.
func readPrices(typed map[string]string, names []string) (aiproxy.Prices, bool, error) {
	var p aiproxy.Prices
	set := false
	for _, pf := range priceFields {
		if !slices.Contains(names, pf.Name) {
			continue
		}
		s, ok := typed[pf.Name]
		if !ok {
			continue
		}
		a, err := parseUnits(pf.Name, s)
		if err != nil {
			return p, false, err
		}
		set = true
		if pf.PerRequest {
			p.PerRequest = a
		} else {
			*pf.get(&p) = aiproxy.Price(a)
		}
	}
	return p, set, nil
}

// allPrices are the names of every price.
var allPrices = func() []string {
	var out []string
	for _, p := range priceFields {
		out = append(out, p.Name)
	}
	return out
}()

// config returns the model config the create form describes; an
// EINVALID error names the input it refuses.
func (f configForm) config() (*aiproxy.ModelConfig, error) {
	mc := &aiproxy.ModelConfig{Model: f.Model, Mode: aiproxy.Mode(f.Type), SaveDetail: f.SaveDetail}
	var err error
	if mc.Pricing.Prices, _, err = readPrices(f.Prices, allPrices); err != nil {
		return nil, err
	}
	mc.Pricing.Free = f.Free
	if mc.RPM, err = parseCount(fieldRPM, f.RPM); err != nil {
		return nil, err
	}
	if mc.TPM, err = parseCount(fieldTPM, f.TPM); err != nil {
		return nil, err
	}
	n, err := parseCount(fieldMaxAttempts, f.MaxAttempts)
	if err != nil {
		return nil, err
	}
	mc.MaxAttempts = int(min(n, math.MaxInt32))
	if mc.Timeout, err = parseSeconds(fieldTimeout, f.Timeout); err != nil {
		return nil, err
	}
	if mc.FirstEventTimeout, err = parseSeconds(fieldFirstEvent, f.FirstEvent); err != nil {
		return nil, err
	}
	return mc, nil
}

// update returns the change the edit form makes to cur: every field as
// typed, cur's price tiers kept.
func (f configForm) update(cur *aiproxy.ModelConfig) (aiproxy.ModelConfigUpdate, error) {
	mc, err := f.config()
	if err != nil {
		return aiproxy.ModelConfigUpdate{}, err
	}
	pricing := mc.Pricing
	pricing.Tiers = cur.Pricing.Tiers
	return aiproxy.ModelConfigUpdate{Mode: &mc.Mode, Pricing: &pricing, SaveDetail: &mc.SaveDetail, RPM: &mc.RPM, TPM: &mc.TPM,
		MaxAttempts: &mc.MaxAttempts, Timeout: &mc.Timeout, FirstEventTimeout: &mc.FirstEventTimeout}, nil
}

// overrideForm is the override form's values as typed, and its errors.
// An empty input keeps the model config's value.
type overrideForm struct {
	Group                                      string
	RPM, TPM, MaxAttempts, Timeout, FirstEvent string
	Prices                                     map[string]string // input, output, cachedInput
	// SaveDetail is "", "true" or "false": keep, keep the bodies, not.
	SaveDetail string
	Errors     web.FieldErrors
}

// overridePrices are the prices the override form sets.
var overridePrices = []string{"input", "output", "cachedInput"}

// overrideFormOf returns the form editing o.
func overrideFormOf(o *aiproxy.GroupModelConfig) overrideForm {
	f := overrideForm{Group: o.GroupID, Prices: map[string]string{}}
	opt := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	f.RPM, f.TPM = opt(o.RPM), opt(o.TPM)
	if o.MaxAttempts != nil {
		f.MaxAttempts = strconv.Itoa(*o.MaxAttempts)
	}
	if o.Timeout != nil {
		f.Timeout = strconv.FormatFloat(o.Timeout.Seconds(), 'f', -1, 64)
	}
	if o.FirstEventTimeout != nil {
		f.FirstEvent = strconv.FormatFloat(o.FirstEventTimeout.Seconds(), 'f', -1, 64)
	}
	if o.Pricing != nil {
		all := pricesOf(o.Pricing.Prices)
		for _, n := range overridePrices {
			if v, ok := all[n]; ok {
				f.Prices[n] = v
			} else {
				f.Prices[n] = "0"
			}
		}
	}
	if o.SaveDetail != nil {
		f.SaveDetail = strconv.FormatBool(*o.SaveDetail)
	}
	return f
}

// readOverrideForm reads the posted override form.
func readOverrideForm(v url.Values) overrideForm {
	f := overrideForm{Group: strings.TrimSpace(v.Get(fieldGroup)), RPM: strings.TrimSpace(v.Get(fieldRPM)),
		TPM: strings.TrimSpace(v.Get(fieldTPM)), MaxAttempts: strings.TrimSpace(v.Get(fieldMaxAttempts)),
		Timeout: strings.TrimSpace(v.Get(fieldTimeout)), FirstEvent: strings.TrimSpace(v.Get(fieldFirstEvent)),
		SaveDetail: v.Get(fieldSaveDetail), Prices: map[string]string{}}
	for _, n := range overridePrices {
		if s := strings.TrimSpace(v.Get(n)); s != "" {
			f.Prices[n] = s
		}
	}
	return f
}

// override returns the override of model the form describes: an empty
// input keeps the model config's value; any price typed sets the
// override's own price (its other components 0).
func (f overrideForm) override(model string) (*aiproxy.GroupModelConfig, error) {
	o := &aiproxy.GroupModelConfig{GroupID: f.Group, Model: model}
	if o.GroupID == "" {
		return nil, aiproxy.FieldErrorf(fieldGroup, "group is required")
	}
	for _, c := range []struct {
		field, s string
		dst      **int64
	}{{fieldRPM, f.RPM, &o.RPM}, {fieldTPM, f.TPM, &o.TPM}} {
		if c.s == "" {
			continue
		}
		n, err := parseCount(c.field, c.s)
		if err != nil {
			return nil, err
		}
		*c.dst = &n
	}
	if f.MaxAttempts != "" {
		n, err := parseCount(fieldMaxAttempts, f.MaxAttempts)
		if err != nil {
			return nil, err
		}
		m := int(min(n, math.MaxInt32))
		o.MaxAttempts = &m
	}
	for _, c := range []struct {
		field, s string
		dst      **time.Duration
	}{{fieldTimeout, f.Timeout, &o.Timeout}, {fieldFirstEvent, f.FirstEvent, &o.FirstEventTimeout}} {
		if c.s == "" {
			continue
		}
		d, err := parseSeconds(c.field, c.s)
		if err != nil {
			return nil, err
		}
		*c.dst = &d
	}
	p, set, err := readPrices(f.Prices, overridePrices)
	if err != nil {
		return nil, err
	}
	if set {
		o.Pricing = &aiproxy.Pricing{Prices: p}
	}
	switch f.SaveDetail {
	case "true", "false":
		b := f.SaveDetail == "true"
		o.SaveDetail = &b
	}
	return o, nil
}

// parseUnits reads a non-negative decimal amount of currency units as
// nanos; an EINVALID error names field.
func parseUnits(field, s string) (aiproxy.Amount, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, aiproxy.FieldErrorf(field, "Enter a number, such as 2.5.")
	}
	if v < 0 || v > maxPriceUnits {
		return 0, aiproxy.FieldErrorf(field, "Enter a price from 0 to %g.", float64(maxPriceUnits))
	}
	return aiproxy.AmountFromFloat(v), nil
}

// parseCount reads a non-negative whole number, empty meaning 0.
func parseCount(field, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, aiproxy.FieldErrorf(field, "Enter a whole number, 0 or more.")
	}
	return n, nil
}

// parseSeconds reads a duration in seconds, empty meaning 0.
func parseSeconds(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > maxTimeoutSeconds {
		return 0, aiproxy.FieldErrorf(field, "Enter a number of seconds from 0 to %d.", maxTimeoutSeconds)
	}
	return time.Duration(v * float64(time.Second)), nil
}

// units formats a in currency units, with no trailing zeros.
func units(a aiproxy.Amount) string { return strconv.FormatFloat(a.Float(), 'f', -1, 64) }

func zeroEmpty(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func secondsOf(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
