package aiproxy

import (
	"context"
	"strings"
	"time"
)

// QuotaPeriod is how often a token's period quota starts again.
type QuotaPeriod string

// Quota periods. A period starts at midnight in the gateway's quota time
// zone (QUOTA_TIME_ZONE, UTC by default): every day, every Monday, or on
// the first of every month.
const (
	PeriodNone    QuotaPeriod = ""
	PeriodDaily   QuotaPeriod = "daily"
	PeriodWeekly  QuotaPeriod = "weekly"
	PeriodMonthly QuotaPeriod = "monthly"
)

// Valid reports whether p is a known period ("" included).
func (p QuotaPeriod) Valid() bool {
	switch p {
	case PeriodNone, PeriodDaily, PeriodWeekly, PeriodMonthly:
		return true
	}
	return false
}

// Start returns when the period holding t began, in loc (nil: UTC); the
// zero time for PeriodNone.
func (p QuotaPeriod) Start(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	y, m, d := t.Date()
	switch p {
	case PeriodDaily:
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	case PeriodWeekly:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-back, 0, 0, 0, 0, loc)
	case PeriodMonthly:
		return time.Date(y, m, 1, 0, 0, 0, 0, loc)
	}
	return time.Time{}
}

// End returns when the period that began at start ends.
func (p QuotaPeriod) End(start time.Time) time.Time {
	switch p {
	case PeriodDaily:
		return start.AddDate(0, 0, 1)
	case PeriodWeekly:
		return start.AddDate(0, 0, 7)
	case PeriodMonthly:
		return start.AddDate(0, 1, 0)
	}
	return time.Time{}
}

// Charge is what one finished request adds to the used amounts of its
// token and group. Requests is 1 for a request that reached a provider.
type Charge struct {
	TokenID     int64
	GroupID     string
	Amount      Amount
	Requests    int64
	PeriodStart time.Time // start of the token's quota period then; zero when it has none
}

// Charger takes the charges of finished requests. Implementations batch
// them, so Charge does no database work, and apply each exactly once.
type Charger interface {
	Charge(c Charge)
}

// BalanceEntry is one change of a group's balance, in its audit trail.
type BalanceEntry struct {
	ID        int64
	GroupID   string
	Amount    Amount // added to the balance; negative for a deduction
	Balance   Amount // the balance after it
	Kind      string // "top_up" or "adjustment"
	Reason    string
	Actor     string // who did it: "admin", or the admin API caller's name
	CreatedAt time.Time
}

// Balance entry kinds.
const (
	BalanceTopUp      = "top_up"
	BalanceAdjustment = "adjustment"
)

// BillingService changes group balances and reads their audit trail.
type BillingService interface {
	// ChangeBalance adds amount to the group's balance (a top-up must be
	// positive; an adjustment may be either sign, not zero), records who
	// and why, and returns the entry. EINVALID, or ENOTFOUND.
	ChangeBalance(ctx context.Context, groupID, kind string, amount Amount, reason, actor string) (*BalanceEntry, error)
	// BalanceEntries returns a group's entries, newest first, at most
	// limit (0: 50) with ID < before (0: from the newest).
	BalanceEntries(ctx context.Context, groupID string, before int64, limit int) ([]*BalanceEntry, error)
}

// GroupModelConfig overrides, for one group, what the model config says
// of one model. A nil field keeps the model's value; each set one
// replaces it (its RPM and TPM are not scaled by the group's ratios).
type GroupModelConfig struct {
	GroupID           string
	Model             string
	RPM               *int64
	TPM               *int64
	Pricing           *Pricing
	MaxAttempts       *int
	Timeout           *time.Duration
	FirstEventTimeout *time.Duration
	SaveDetail        *bool
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Validate checks o and returns an EINVALID *Error naming the field.
func (o *GroupModelConfig) Validate() error {
	o.Model = strings.TrimSpace(o.Model)
	if o.GroupID == "" {
		return FieldErrorf("group", "group is required")
	}
	if o.Model == "" || len(o.Model) > 256 {
		return FieldErrorf("model", "model is required, at most 256 characters")
	}
	if o.RPM != nil && *o.RPM < 0 {
		return FieldErrorf("rpm", "rpm must not be negative")
	}
	if o.TPM != nil && *o.TPM < 0 {
		return FieldErrorf("tpm", "tpm must not be negative")
	}
	if o.MaxAttempts != nil && (*o.MaxAttempts < 0 || *o.MaxAttempts > 8) {
		return FieldErrorf("maxAttempts", "maxAttempts must be between 0 (the gateway's) and 8")
	}
	if o.Timeout != nil && (*o.Timeout < 0 || *o.Timeout > time.Hour) {
		return FieldErrorf("timeoutSeconds", "timeoutSeconds must be between 0 and 3600")
	}
	if o.FirstEventTimeout != nil && (*o.FirstEventTimeout < 0 || *o.FirstEventTimeout > time.Hour) {
		return FieldErrorf("firstEventTimeoutSeconds", "firstEventTimeoutSeconds must be between 0 and 3600")
	}
	if o.Pricing != nil {
		return o.Pricing.Validate("pricing")
	}
	return nil
}

// GroupModelConfigService manages per-group model overrides.
type GroupModelConfigService interface {
	// GroupModelConfigs returns the overrides of a group ("" every
	// group), ordered by group and model.
	GroupModelConfigs(ctx context.Context, groupID string) ([]*GroupModelConfig, error)
	// SetGroupModelConfig creates or replaces the override of o.GroupID ×
	// o.Model. EINVALID, or ENOTFOUND when the group does not exist.
	SetGroupModelConfig(ctx context.Context, o *GroupModelConfig) error
	// DeleteGroupModelConfig removes an override, or returns ENOTFOUND.
	DeleteGroupModelConfig(ctx context.Context, groupID, model string) error
}

// Where an effective value comes from.
const (
	SourceGateway   = "gateway"   // the gateway's setting (or none)
	SourceModel     = "model"     // the model config
	SourceGroup     = "group"     // the group's override
	SourceCatalogue = "catalogue" // the built-in price catalogue
)

// EffectiveModel is what applies to one group's requests for one model,
// with where each value comes from (Source*).
type EffectiveModel struct {
	Model string
	// RPM and TPM are the limits (0: none): the group's override, or the
	// model config's times the group's ratio.
	RPM, TPM             int64
	RPMSource, TPMSource string
	// Pricing is the price: the group's override, the model config's, or
	// the catalogue's; nil when the model is unpriced.
	Pricing     *Pricing
	PriceSource string
	// MaxAttempts, Timeout and FirstEventTimeout are 0 where the gateway's
	// settings apply.
	MaxAttempts             int
	Timeout                 time.Duration
	FirstEventTimeout       time.Duration
	SaveDetail              bool
	AttemptsSource          string
	TimeoutSource           string
	FirstEventTimeoutSource string
	SaveDetailSource        string
}

// Effective returns what applies to group g's requests for model: from
// the group's override o (nil: none), the model config mc (nil: none) and
// the catalogue entry ce (nil: none). g may be nil (ratios of 1).
func Effective(model string, g *Group, mc *ModelConfig, o *GroupModelConfig, ce *CatalogueEntry) EffectiveModel {
	e := EffectiveModel{Model: model, RPMSource: SourceGateway, TPMSource: SourceGateway, AttemptsSource: SourceGateway,
		TimeoutSource: SourceGateway, FirstEventTimeoutSource: SourceGateway, SaveDetailSource: SourceGateway}
	rpmRatio, tpmRatio := 1.0, 1.0
	if g != nil {
		rpmRatio, tpmRatio = g.ratio(g.RPMRatio), g.ratio(g.TPMRatio)
	}
	if mc != nil {
		if mc.RPM > 0 {
			e.RPM, e.RPMSource = scale(mc.RPM, rpmRatio), SourceModel
		}
		if mc.TPM > 0 {
			e.TPM, e.TPMSource = scale(mc.TPM, tpmRatio), SourceModel
		}
		if mc.MaxAttempts > 0 {
			e.MaxAttempts, e.AttemptsSource = mc.MaxAttempts, SourceModel
		}
		if mc.Timeout > 0 {
			e.Timeout, e.TimeoutSource = mc.Timeout, SourceModel
		}
		if mc.FirstEventTimeout > 0 {
			e.FirstEventTimeout, e.FirstEventTimeoutSource = mc.FirstEventTimeout, SourceModel
		}
		if mc.SaveDetail {
			e.SaveDetail, e.SaveDetailSource = true, SourceModel
		}
		if mc.Pricing.Priced() {
			e.Pricing, e.PriceSource = &mc.Pricing, SourceModel
		}
	}
	if e.Pricing == nil && ce != nil && ce.Pricing.Priced() {
		e.Pricing, e.PriceSource = &ce.Pricing, SourceCatalogue
	}
	if o != nil {
		if o.RPM != nil {
			e.RPM, e.RPMSource = *o.RPM, SourceGroup
		}
		if o.TPM != nil {
			e.TPM, e.TPMSource = *o.TPM, SourceGroup
		}
		if o.MaxAttempts != nil {
			e.MaxAttempts, e.AttemptsSource = *o.MaxAttempts, SourceGroup
		}
		if o.Timeout != nil {
			e.Timeout, e.TimeoutSource = *o.Timeout, SourceGroup
		}
		if o.FirstEventTimeout != nil {
			e.FirstEventTimeout, e.FirstEventTimeoutSource = *o.FirstEventTimeout, SourceGroup
		}
		if o.SaveDetail != nil {
			e.SaveDetail, e.SaveDetailSource = *o.SaveDetail, SourceGroup
		}
		if o.Pricing != nil && o.Pricing.Priced() {
			e.Pricing, e.PriceSource = o.Pricing, SourceGroup
		}
	}
	return e
}

// scale multiplies a limit by a ratio, keeping at least 1 of a limit set.
func scale(limit int64, ratio float64) int64 {
	return max(int64(float64(limit)*ratio), 1)
}
