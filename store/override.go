package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

var _ aiproxy.GroupModelConfigService = (*Store)(nil)

// groupModelConfigRow holds one group's override of one model; the
// fields set are kept as JSON, so that a field left out stays nil.
type groupModelConfigRow struct {
	bun.BaseModel `bun:"table:group_model_configs"`

	GroupID   string    `bun:"group_id,pk"`
	Model     string    `bun:"model,pk"`
	Config    string    `bun:"config"`
	CreatedAt time.Time `bun:"created_at"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// overrideFields is the stored form of an override's fields.
type overrideFields struct {
	RPM          *int64           `json:"rpm,omitempty"`
	TPM          *int64           `json:"tpm,omitempty"`
	Pricing      *aiproxy.Pricing `json:"pricing,omitempty"`
	MaxAttempts  *int             `json:"maxAttempts,omitempty"`
	TimeoutMS    *int64           `json:"timeoutMs,omitempty"`
	FirstEventMS *int64           `json:"firstEventTimeoutMs,omitempty"`
	SaveDetail   *bool            `json:"saveDetail,omitempty"`
}

func ms(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	v := d.Milliseconds()
	return &v
}

func dur(v *int64) *time.Duration {
	if v == nil {
		return nil
	}
	d := time.Duration(*v) * time.Millisecond
	return &d
}

func (r *groupModelConfigRow) override() (*aiproxy.GroupModelConfig, error) {
	var f overrideFields
	if err := json.Unmarshal([]byte(r.Config), &f); err != nil {
		return nil, fmt.Errorf("override %s/%s: %w", r.GroupID, r.Model, err)
	}
	return &aiproxy.GroupModelConfig{
		GroupID: r.GroupID, Model: r.Model, RPM: f.RPM, TPM: f.TPM, Pricing: f.Pricing, MaxAttempts: f.MaxAttempts,
		Timeout: dur(f.TimeoutMS), FirstEventTimeout: dur(f.FirstEventMS), SaveDetail: f.SaveDetail,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}, nil
}

func listGroupModelConfigs(ctx context.Context, db bun.IDB, groupID string) ([]*aiproxy.GroupModelConfig, error) {
	var rows []groupModelConfigRow
	q := db.NewSelect().Model(&rows).Order("group_id", "model")
	if groupID != "" {
		q = q.Where("group_id = ?", groupID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, err
	}
	out := make([]*aiproxy.GroupModelConfig, 0, len(rows))
	for i := range rows {
		o, err := rows[i].override()
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// GroupModelConfigs returns the overrides of a group ("" every group),
// ordered by group and model.
func (s *Store) GroupModelConfigs(ctx context.Context, groupID string) ([]*aiproxy.GroupModelConfig, error) {
	os, err := listGroupModelConfigs(ctx, s.db.ro, groupID)
	return os, wrap("list group model configs", err)
}

// SetGroupModelConfig creates or replaces the override of o.GroupID ×
// o.Model, setting its times. EINVALID, or ENOTFOUND when the group does
// not exist. Every replica's Cache applies it at once.
func (s *Store) SetGroupModelConfig(ctx context.Context, o *aiproxy.GroupModelConfig) error {
	if err := o.Validate(); err != nil {
		return err
	}
	cfg, err := json.Marshal(overrideFields{RPM: o.RPM, TPM: o.TPM, Pricing: o.Pricing, MaxAttempts: o.MaxAttempts,
		TimeoutMS: ms(o.Timeout), FirstEventMS: ms(o.FirstEventTimeout), SaveDetail: o.SaveDetail})
	if err != nil {
		return wrap("set group model config", err)
	}
	t := now()
	created := t
	err = s.db.rw.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := findGroup(ctx, tx, o.GroupID, true); aiproxy.ErrorCode(err) == aiproxy.ENOTFOUND {
			return &aiproxy.Error{Code: aiproxy.ENOTFOUND, Field: "group", Message: fmt.Sprintf("group %q not found", o.GroupID)}
		} else if err != nil {
			return err
		}
		row := &groupModelConfigRow{GroupID: o.GroupID, Model: o.Model, Config: string(cfg), CreatedAt: t, UpdatedAt: t}
		old := new(groupModelConfigRow)
		err := tx.NewSelect().Model(old).Where("group_id = ? AND model = ?", o.GroupID, o.Model).Scan(ctx)
		if err == nil {
			row.CreatedAt = old.CreatedAt.UTC()
			created = row.CreatedAt
			_, err = tx.NewUpdate().Model(row).WherePK().Exec(ctx)
			return err
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.NewInsert().Model(row).Exec(ctx)
		return err
	})
	if err != nil {
		return wrap("set group model config", err)
	}
	o.CreatedAt, o.UpdatedAt = created, t
	s.announce(ctx, ChangeGroupModelConfig, o.GroupID+"/"+o.Model)
	return nil
}

// DeleteGroupModelConfig removes an override, or returns ENOTFOUND.
// Every replica's Cache stops applying it at once.
func (s *Store) DeleteGroupModelConfig(ctx context.Context, groupID, model string) error {
	err := mustDelete(ctx, s.db.rw.NewDelete().Model((*groupModelConfigRow)(nil)).Where("group_id = ? AND model = ?", groupID, model),
		"group %s has no override of model %s", groupID, model)
	if err != nil {
		return wrap("delete group model config", err)
	}
	s.announce(ctx, ChangeGroupModelConfig, groupID+"/"+model)
	return nil
}
