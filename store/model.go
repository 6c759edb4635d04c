package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

type modelConfigRow struct {
	bun.BaseModel `bun:"table:model_configs"`

	Model       string    `bun:"model,pk"`
	Mode        string    `bun:"mode"`
	InputPrice  int64     `bun:"input_price"`
	OutputPrice int64     `bun:"output_price"`
	CachedPrice int64     `bun:"cached_price"`
	Pricing     string    `bun:"pricing,nullzero"` // JSON of aiproxy.Pricing; NULL in rows older than it (the three prices above then)
	SaveDetail  bool      `bun:"save_detail"`
	RPM         int64     `bun:"rpm"`
	TPM         int64     `bun:"tpm"`
	MaxAttempts int       `bun:"max_attempts,nullzero"`
	TimeoutMS   int64     `bun:"timeout_ms,nullzero"`
	FirstMS     int64     `bun:"first_event_timeout_ms,nullzero"`
	CreatedAt   time.Time `bun:"created_at"`
	UpdatedAt   time.Time `bun:"updated_at"`
}

func toModelConfigRow(m *aiproxy.ModelConfig) *modelConfigRow {
	return &modelConfigRow{
		Model:       m.Model,
		Mode:        string(m.Mode),
		InputPrice:  int64(m.Pricing.Input),
		OutputPrice: int64(m.Pricing.Output),
		CachedPrice: int64(m.Pricing.CachedInput),
		Pricing:     marshalPricing(&m.Pricing),
		SaveDetail:  m.SaveDetail,
		RPM:         m.RPM,
		TPM:         m.TPM,
		MaxAttempts: m.MaxAttempts,
		TimeoutMS:   m.Timeout.Milliseconds(),
		FirstMS:     m.FirstEventTimeout.Milliseconds(),
		CreatedAt:   utc(m.CreatedAt),
		UpdatedAt:   utc(m.UpdatedAt),
	}
}

func (r *modelConfigRow) modelConfig() *aiproxy.ModelConfig {
	m := &aiproxy.ModelConfig{
		Model:             r.Model,
		Mode:              aiproxy.Mode(r.Mode),
		SaveDetail:        r.SaveDetail,
		RPM:               r.RPM,
		TPM:               r.TPM,
		MaxAttempts:       r.MaxAttempts,
		Timeout:           time.Duration(r.TimeoutMS) * time.Millisecond,
		FirstEventTimeout: time.Duration(r.FirstMS) * time.Millisecond,
		CreatedAt:         r.CreatedAt.UTC(),
		UpdatedAt:         r.UpdatedAt.UTC(),
	}
	if r.Pricing == "" || json.Unmarshal([]byte(r.Pricing), &m.Pricing) != nil {
		m.Pricing = aiproxy.Pricing{Prices: aiproxy.Prices{Input: aiproxy.Price(r.InputPrice), Output: aiproxy.Price(r.OutputPrice), CachedInput: aiproxy.Price(r.CachedPrice)}}
	}
	return m
}

func (r *modelConfigRow) value() (*aiproxy.ModelConfig, error) { return r.modelConfig(), nil }
func (r *modelConfigRow) touch(t time.Time)                    { r.UpdatedAt = t }

// ModelConfig returns the config of one model, or ENOTFOUND.
func (s *Store) ModelConfig(ctx context.Context, model string) (*aiproxy.ModelConfig, error) {
	m, err := findModelConfig(ctx, s.db.ro, model, false)
	return m, wrap("find model config", err)
}

// ModelConfigs returns every config, ordered by model (byte-wise, whatever
// the database's collation).
func (s *Store) ModelConfigs(ctx context.Context) ([]*aiproxy.ModelConfig, error) {
	ms, err := listModelConfigs(ctx, s.db.ro)
	return ms, wrap("list model configs", err)
}

// CreateModelConfig stores m and sets its times. It returns EINVALID, or
// ECONFLICT when the model has a config. The Cache serves it when
// CreateModelConfig returns.
func (s *Store) CreateModelConfig(ctx context.Context, m *aiproxy.ModelConfig) error {
	if err := m.Validate(); err != nil {
		return err
	}
	m.CreatedAt = now()
	m.UpdatedAt = m.CreatedAt
	_, err := s.db.rw.NewInsert().Model(toModelConfigRow(m)).Exec(ctx)
	if violation(err) == violationUnique {
		return &aiproxy.Error{Code: aiproxy.ECONFLICT, Field: "model", Message: fmt.Sprintf("model %q already has a config", m.Model)}
	} else if err != nil {
		return wrap("create model config", err)
	}
	s.announce(ctx, ChangeModelConfig, m.Model)
	return nil
}

// UpdateModelConfig applies upd and returns the config as stored, or
// returns ENOTFOUND / EINVALID. The Cache serves the change when it
// returns.
func (s *Store) UpdateModelConfig(ctx context.Context, model string, upd aiproxy.ModelConfigUpdate) (*aiproxy.ModelConfig, error) {
	m, err := updateRow(ctx, s.db.rw, findModelConfig, model, upd.Apply, toModelConfigRow)
	if err != nil {
		return nil, wrap("update model config", err)
	}
	s.announce(ctx, ChangeModelConfig, model)
	return m, nil
}

// DeleteModelConfig removes a config, or returns ENOTFOUND. The Cache
// stops serving it when DeleteModelConfig returns.
func (s *Store) DeleteModelConfig(ctx context.Context, model string) error {
	q := s.db.rw.NewDelete().Model((*modelConfigRow)(nil)).Where("model = ?", model)
	if err := mustDelete(ctx, q, "model config %q not found", model); err != nil {
		return wrap("delete model config", err)
	}
	s.announce(ctx, ChangeModelConfig, model)
	return nil
}

// findModelConfig returns a config or ENOTFOUND; lock locks its row until
// the transaction db ends.
func findModelConfig(ctx context.Context, db bun.IDB, model string, lock bool) (*aiproxy.ModelConfig, error) {
	row, err := findRow[modelConfigRow](ctx, db, "model", model, lock, "model config %q not found")
	if err != nil {
		return nil, err
	}
	return row.modelConfig(), nil
}

func listModelConfigs(ctx context.Context, db bun.IDB) ([]*aiproxy.ModelConfig, error) {
	var rows []modelConfigRow
	if err := db.NewSelect().Model(&rows).Scan(ctx); err != nil {
		return nil, err
	}
	ms := make([]*aiproxy.ModelConfig, len(rows))
	for i := range rows {
		ms[i] = rows[i].modelConfig()
	}
	slices.SortFunc(ms, func(a, b *aiproxy.ModelConfig) int { return strings.Compare(a.Model, b.Model) })
	return ms, nil
}

// marshalPricing returns p as JSON (integer nanos).
func marshalPricing(p *aiproxy.Pricing) string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // plain numbers, strings and bools always encode
	}
	return string(b)
}
