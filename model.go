package aiproxy

import (
	"context"
	"math"
	"strconv"
	"strings"
	"time"
)

// Mode is the kind of work a model does, which decides the relay endpoint
// and how usage is counted.
type Mode string

// Modes.
const (
	ModeChat        Mode = "chat"
	ModeCompletions Mode = "completions"
	ModeEmbeddings  Mode = "embeddings"
	ModeImages      Mode = "images"
	ModeAudio       Mode = "audio"
	ModeModeration  Mode = "moderation"
	ModeRerank      Mode = "rerank"
	ModeResponses   Mode = "responses"
)

// Modes lists every mode.
var Modes = []Mode{ModeChat, ModeCompletions, ModeEmbeddings, ModeImages, ModeAudio, ModeModeration, ModeRerank, ModeResponses}

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool {
	for _, v := range Modes {
		if m == v {
			return true
		}
	}
	return false
}

// Amount is money in nanos: billionths of the gateway's currency unit.
// Integer money keeps sums exact.
type Amount int64

// Nanos per currency unit.
const AmountUnit Amount = 1_000_000_000

// AmountFromFloat converts currency units to an Amount, rounding to the
// nearest nano.
func AmountFromFloat(f float64) Amount { return Amount(math.Round(f * float64(AmountUnit))) }

// Float returns a in currency units.
func (a Amount) Float() float64 { return float64(a) / float64(AmountUnit) }

// String writes a in currency units, exactly, with at least two decimals
// ("12.50", "0.000123", "-3.00").
func (a Amount) String() string {
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	units, nanos := int64(a/AmountUnit), int64(a%AmountUnit)
	frac := strings.TrimRight(strconv.FormatInt(nanos+int64(AmountUnit), 10)[1:], "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + strconv.FormatInt(units, 10) + "." + frac
}

// Price is a price per million tokens, in nanos of the currency unit
// (so 2_500_000_000 is 2.50 per million tokens, 2,500 nanos per token).
type Price int64

// Cost returns the price of n tokens, rounded to the nearest nano.
func (p Price) Cost(n int64) Amount {
	return Amount((int64(p)*n + 500_000) / 1_000_000)
}

// ModelConfig describes one model the gateway offers: its mode, prices and
// limits. A model listed on an enabled channel is served without a config,
// at the built-in catalogue's prices when it lists the model, else
// unpriced (logged as such, never as free).
type ModelConfig struct {
	Model string
	Mode  Mode
	// Pricing is the model's price; when it is unpriced (Pricing.Priced),
	// the catalogue's applies.
	Pricing Pricing
	RPM     int64 // requests per minute per group (times its RPMRatio); 0 means unlimited
	TPM     int64 // tokens per minute per group (times its TPMRatio); 0 means unlimited
	// SaveDetail keeps the request and response bodies of every request
	// for the model in the logs.
	SaveDetail bool
	// MaxAttempts overrides the gateway's count of channels one request
	// may try (MAX_ATTEMPTS); 0 keeps it.
	MaxAttempts int
	// Timeout overrides the gateway's timeout of a non-streaming attempt
	// for the model's mode, FirstEventTimeout that of a stream's first
	// event; 0 keeps them.
	Timeout, FirstEventTimeout time.Duration
	CreatedAt                  time.Time
	UpdatedAt                  time.Time
}

// Validate checks m and returns an EINVALID *Error naming the field.
func (m *ModelConfig) Validate() error {
	m.Model = strings.TrimSpace(m.Model)
	if m.Model == "" {
		return FieldErrorf("model", "model is required")
	} else if len(m.Model) > 256 {
		return FieldErrorf("model", "model must be at most 256 characters")
	}
	if m.Mode == "" {
		m.Mode = ModeChat
	}
	if !m.Mode.Valid() {
		return FieldErrorf("type", "unknown model type %q", m.Mode)
	}
	if err := m.Pricing.Validate("pricing"); err != nil {
		return err
	}
	if m.RPM < 0 {
		return FieldErrorf("rpm", "rpm must not be negative")
	}
	if m.TPM < 0 {
		return FieldErrorf("tpm", "tpm must not be negative")
	}
	if m.MaxAttempts < 0 || m.MaxAttempts > 8 {
		return FieldErrorf("maxAttempts", "maxAttempts must be between 0 (the gateway's) and 8")
	}
	if m.Timeout < 0 || m.Timeout > time.Hour {
		return FieldErrorf("timeoutSeconds", "timeoutSeconds must be between 0 (the gateway's) and 3600")
	}
	if m.FirstEventTimeout < 0 || m.FirstEventTimeout > time.Hour {
		return FieldErrorf("firstEventTimeoutSeconds", "firstEventTimeoutSeconds must be between 0 (the gateway's) and 3600")
	}
	return nil
}

// ModelConfigUpdate holds the fields to change; nil leaves a field.
type ModelConfigUpdate struct {
	Mode              *Mode
	Pricing           *Pricing
	SaveDetail        *bool
	RPM               *int64
	TPM               *int64
	MaxAttempts       *int
	Timeout           *time.Duration
	FirstEventTimeout *time.Duration
}

// Apply changes m by u.
func (u ModelConfigUpdate) Apply(m *ModelConfig) {
	if u.Mode != nil {
		m.Mode = *u.Mode
	}
	if u.Pricing != nil {
		m.Pricing = *u.Pricing
	}
	if u.SaveDetail != nil {
		m.SaveDetail = *u.SaveDetail
	}
	if u.RPM != nil {
		m.RPM = *u.RPM
	}
	if u.TPM != nil {
		m.TPM = *u.TPM
	}
	if u.MaxAttempts != nil {
		m.MaxAttempts = *u.MaxAttempts
	}
	if u.Timeout != nil {
		m.Timeout = *u.Timeout
	}
	if u.FirstEventTimeout != nil {
		m.FirstEventTimeout = *u.FirstEventTimeout
	}
}

// ModelConfigService manages model configs.
type ModelConfigService interface {
	// ModelConfig returns the config of one model, or ENOTFOUND.
	ModelConfig(ctx context.Context, model string) (*ModelConfig, error)
	// ModelConfigs returns every config, ordered by model.
	ModelConfigs(ctx context.Context) ([]*ModelConfig, error)
	// CreateModelConfig stores m; EINVALID, or ECONFLICT when the model has one.
	CreateModelConfig(ctx context.Context, m *ModelConfig) error
	// UpdateModelConfig applies upd, or returns ENOTFOUND / EINVALID.
	UpdateModelConfig(ctx context.Context, model string, upd ModelConfigUpdate) (*ModelConfig, error)
	// DeleteModelConfig removes a config, or returns ENOTFOUND.
	DeleteModelConfig(ctx context.Context, model string) error
}
