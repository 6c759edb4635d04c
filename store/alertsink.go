package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

var _ aiproxy.AlertService = (*Store)(nil)

// mainV8 adds what the alert admin API keeps: the alert sinks, and the
// channels' balance thresholds. The alert settings are a settings row.
var mainV8 = []string{
	`CREATE TABLE IF NOT EXISTS "alert_sinks" (
	"id" {id},
	"name" VARCHAR(128) NOT NULL,
	"kind" VARCHAR(16) NOT NULL,
	"url" {text} NOT NULL,
	"secret" {text} NOT NULL,
	"allow_private_network" BOOLEAN NOT NULL,
	"enabled" BOOLEAN NOT NULL,
	"kinds" {text} NOT NULL,
	"min_severity" VARCHAR(16) NOT NULL,
	"created_at" {time} NOT NULL,
	"updated_at" {time} NOT NULL
) {table}`,
	`ALTER TABLE "channels" {add} "low_balance" DOUBLE PRECISION NULL`,
}

// alertSinkRow is a row of alert_sinks.
type alertSinkRow struct {
	bun.BaseModel `bun:"table:alert_sinks"`

	ID           int64     `bun:"id,pk,autoincrement"`
	Name         string    `bun:"name"`
	Kind         string    `bun:"kind"`
	URL          string    `bun:"url"`
	Secret       string    `bun:"secret"`
	AllowPrivate bool      `bun:"allow_private_network"`
	Enabled      bool      `bun:"enabled"`
	Kinds        string    `bun:"kinds"` // JSON array
	MinSeverity  string    `bun:"min_severity"`
	CreatedAt    time.Time `bun:"created_at"`
	UpdatedAt    time.Time `bun:"updated_at"`
}

func toAlertSinkRow(s *aiproxy.AlertSink) *alertSinkRow {
	kinds := s.Kinds
	if kinds == nil {
		kinds = []aiproxy.AlertKind{}
	}
	return &alertSinkRow{ID: s.ID, Name: s.Name, Kind: string(s.Kind), URL: s.URL, Secret: s.Secret, AllowPrivate: s.AllowPrivateNetwork,
		Enabled: s.Enabled, Kinds: marshal(kinds), MinSeverity: string(s.MinSeverity), CreatedAt: utc(s.CreatedAt), UpdatedAt: utc(s.UpdatedAt)}
}

func (r *alertSinkRow) value() (*aiproxy.AlertSink, error) {
	s := &aiproxy.AlertSink{ID: r.ID, Name: r.Name, Kind: aiproxy.AlertSinkKind(r.Kind), URL: r.URL, Secret: r.Secret,
		AllowPrivateNetwork: r.AllowPrivate, Enabled: r.Enabled, MinSeverity: aiproxy.AlertSeverity(r.MinSeverity),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if err := unmarshal(r.Kinds, &s.Kinds); err != nil {
		return nil, err
	}
	if len(s.Kinds) == 0 {
		s.Kinds = nil
	}
	return s, nil
}

func (r *alertSinkRow) touch(t time.Time) { r.UpdatedAt = t }

func findAlertSink(ctx context.Context, db bun.IDB, id int64, lock bool) (*aiproxy.AlertSink, error) {
	row, err := findRow[alertSinkRow](ctx, db, "id", id, lock, "alert sink %d not found")
	if err != nil {
		return nil, err
	}
	return row.value()
}

// AlertSinks returns every alert sink, by id.
func (s *Store) AlertSinks(ctx context.Context) ([]*aiproxy.AlertSink, error) {
	var rows []alertSinkRow
	if err := s.db.ro.NewSelect().Model(&rows).OrderExpr("id").Scan(ctx); err != nil {
		return nil, wrap("list alert sinks", err)
	}
	out := make([]*aiproxy.AlertSink, 0, len(rows))
	for i := range rows {
		v, err := rows[i].value()
		if err != nil {
			return nil, wrap("list alert sinks", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// AlertSink returns one alert sink, or ENOTFOUND.
func (s *Store) AlertSink(ctx context.Context, id int64) (*aiproxy.AlertSink, error) {
	v, err := findAlertSink(ctx, s.db.ro, id, false)
	return v, wrap("find alert sink", err)
}

// CreateAlertSink validates a, stores it and sets its ID and times. The
// notifiers of every replica reload their sinks (ChangeAlerts).
func (s *Store) CreateAlertSink(ctx context.Context, a *aiproxy.AlertSink) error {
	if err := a.Validate(); err != nil {
		return err
	}
	a.CreatedAt = now()
	a.UpdatedAt = a.CreatedAt
	row := toAlertSinkRow(a)
	if _, err := s.db.rw.NewInsert().Model(row).Exec(ctx); err != nil {
		return wrap("create alert sink", err)
	}
	a.ID = row.ID
	s.announce(ctx, ChangeAlerts, "")
	return nil
}

// UpdateAlertSink applies upd to sink id and returns it as stored; it
// returns ENOTFOUND or EINVALID.
func (s *Store) UpdateAlertSink(ctx context.Context, id int64, upd aiproxy.AlertSinkUpdate) (*aiproxy.AlertSink, error) {
	v, err := updateRow(ctx, s.db.rw, findAlertSink, id, upd.Apply, toAlertSinkRow)
	if err != nil {
		return nil, wrap("update alert sink", err)
	}
	s.announce(ctx, ChangeAlerts, "")
	return v, nil
}

// DeleteAlertSink removes sink id, or returns ENOTFOUND.
func (s *Store) DeleteAlertSink(ctx context.Context, id int64) error {
	q := s.db.rw.NewDelete().Model((*alertSinkRow)(nil)).Where("id = ?", id)
	if err := mustDelete(ctx, q, "alert sink %d not found", id); err != nil {
		return wrap("delete alert sink", err)
	}
	s.announce(ctx, ChangeAlerts, "")
	return nil
}

// settingAlerts names the alert settings, a JSON object.
const settingAlerts = "alert_settings"

// alertSettingsJSON is how the alert settings are stored.
type alertSettingsJSON struct {
	ThrottleSeconds float64 `json:"throttleSeconds,omitempty"`
	ErrorRate       float64 `json:"errorRate,omitempty"`
	SpikeFactor     float64 `json:"spikeFactor,omitempty"`
	SpikeMin        int64   `json:"spikeMin,omitempty"`
	LogQueueWarn    int     `json:"logQueueWarn,omitempty"`
}

// AlertSettings returns the alert settings every replica shares; zero
// when none were set.
func (s *Store) AlertSettings(ctx context.Context) (*aiproxy.AlertSettings, error) {
	var row settingRow
	err := s.db.ro.NewSelect().Model(&row).Where("name = ?", settingAlerts).Scan(ctx)
	if err != nil {
		if notFound(err, "") != err {
			return &aiproxy.AlertSettings{}, nil
		}
		return nil, wrap("read alert settings", err)
	}
	var j alertSettingsJSON
	if err := json.Unmarshal([]byte(row.Value), &j); err != nil {
		return nil, wrap("read alert settings", err)
	}
	return &aiproxy.AlertSettings{Throttle: time.Duration(j.ThrottleSeconds * float64(time.Second)), ErrorRate: j.ErrorRate,
		SpikeFactor: j.SpikeFactor, SpikeMin: j.SpikeMin, LogQueueWarn: j.LogQueueWarn, UpdatedAt: row.UpdatedAt.UTC()}, nil
}

// SetAlertSettings validates and stores a; the notifiers of every
// replica reload them (ChangeAlerts).
func (s *Store) SetAlertSettings(ctx context.Context, a *aiproxy.AlertSettings) error {
	if err := a.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(alertSettingsJSON{ThrottleSeconds: a.Throttle.Seconds(), ErrorRate: a.ErrorRate, SpikeFactor: a.SpikeFactor,
		SpikeMin: a.SpikeMin, LogQueueWarn: a.LogQueueWarn})
	if err != nil {
		return wrap("store alert settings", err)
	}
	a.UpdatedAt = now()
	row := &settingRow{Name: settingAlerts, Value: string(b), UpdatedAt: a.UpdatedAt}
	q := s.db.rw.NewInsert().Model(row)
	if s.db.dialect == MySQL {
		q = q.On("DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)")
	} else {
		q = q.On("CONFLICT (name) DO UPDATE").Set("value = EXCLUDED.value, updated_at = EXCLUDED.updated_at")
	}
	if _, err := q.Exec(ctx); err != nil {
		return wrap("store alert settings", err)
	}
	s.announce(ctx, ChangeAlerts, "")
	return nil
}
