package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

var _ aiproxy.AlertHistory = (*Store)(nil)

// alertRow is a row of the alerts table.
type alertRow struct {
	bun.BaseModel `bun:"table:alerts"`

	ID        int64     `bun:"id,pk,autoincrement"`
	Kind      string    `bun:"kind"`
	Severity  string    `bun:"severity"`
	Key       string    `bun:"alert_key"`
	Title     string    `bun:"title"`
	Text      string    `bun:"text"`
	ChannelID int64     `bun:"channel_id"`
	GroupID   string    `bun:"group_id"`
	Model     string    `bun:"model"`
	Delivered bool      `bun:"delivered"`
	CreatedAt time.Time `bun:"created_at"`
}

// RecordAlert stores r in the alert history (the main database), setting
// its ID. A zero At is stored as now.
func (s *Store) RecordAlert(ctx context.Context, r *aiproxy.AlertRecord) error {
	at := r.At
	if at.IsZero() {
		at = time.Now()
	}
	row := &alertRow{Kind: string(r.Kind), Severity: string(r.Severity), Key: r.ThrottleKey(), Title: r.Title, Text: r.Text,
		ChannelID: r.ChannelID, GroupID: r.GroupID, Model: r.Model, Delivered: r.Delivered, CreatedAt: utc(at)}
	if _, err := s.db.rw.NewInsert().Model(row).Exec(ctx); err != nil {
		return wrap("record alert", err)
	}
	r.ID = row.ID
	return nil
}

// Alerts returns the alert records matching f, newest first, and whether
// more follow.
func (s *Store) Alerts(ctx context.Context, f aiproxy.AlertFilter) ([]*aiproxy.AlertRecord, bool, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var rows []alertRow
	q := s.db.ro.NewSelect().Model(&rows).OrderExpr("id DESC").Limit(int64(limit + 1))
	if f.Kind != "" {
		q = q.Where("kind = ?", string(f.Kind))
	}
	if f.ChannelID != 0 {
		q = q.Where("channel_id = ?", f.ChannelID)
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, wrap("list alerts", err)
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	out := make([]*aiproxy.AlertRecord, len(rows))
	for i, r := range rows {
		out[i] = &aiproxy.AlertRecord{ID: r.ID, Delivered: r.Delivered, Alert: aiproxy.Alert{
			Kind: aiproxy.AlertKind(r.Kind), Severity: aiproxy.AlertSeverity(r.Severity), Key: r.Key, Title: r.Title, Text: r.Text,
			ChannelID: r.ChannelID, GroupID: r.GroupID, Model: r.Model, At: r.CreatedAt,
		}}
	}
	return out, more, nil
}
