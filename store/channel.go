package store

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

type channelRow struct {
	bun.BaseModel `bun:"table:channels"`

	ID           int64     `bun:"id,pk,autoincrement"`
	Name         string    `bun:"name"`
	Type         string    `bun:"type"`
	BaseURL      string    `bun:"base_url"`
	APIKey       string    `bun:"api_key"`
	Config       string    `bun:"config"`        // JSON object; "" none
	Models       string    `bun:"models"`        // JSON array of strings
	ModelMapping string    `bun:"model_mapping"` // JSON array of aiproxy.ModelMapping
	Priority     int       `bun:"priority"`
	Weight       int       `bun:"weight"`
	Sets         string    `bun:"sets,nullzero"` // JSON array of strings; NULL (rows before sets) is {default}
	ProxyURL     string    `bun:"proxy_url,nullzero"`
	Headers      string    `bun:"headers,nullzero"` // JSON array of aiproxy.Header; NULL none
	Threshold    float64   `bun:"breaker_threshold,nullzero"`
	LowBalance   float64   `bun:"low_balance,nullzero"`
	Enabled      bool      `bun:"enabled"`
	CreatedAt    time.Time `bun:"created_at"`
	UpdatedAt    time.Time `bun:"updated_at"`
}

func toChannelRow(c *aiproxy.Channel) *channelRow {
	return &channelRow{
		ID:           c.ID,
		Name:         c.Name,
		Type:         string(c.Type),
		BaseURL:      c.BaseURL,
		APIKey:       c.Key,
		Config:       string(c.Config),
		Models:       marshal(c.Models),
		ModelMapping: marshal(c.ModelMapping),
		Priority:     c.Priority,
		Weight:       c.Weight,
		Sets:         marshal(c.Sets),
		ProxyURL:     c.ProxyURL,
		Headers:      marshalHeaders(c.Headers),
		Threshold:    c.BreakerThreshold,
		LowBalance:   c.LowBalance,
		Enabled:      c.Enabled,
		CreatedAt:    utc(c.CreatedAt),
		UpdatedAt:    utc(c.UpdatedAt),
	}
}

func (r *channelRow) channel() (*aiproxy.Channel, error) {
	c := &aiproxy.Channel{
		ID:        r.ID,
		Name:      r.Name,
		Type:      aiproxy.ChannelType(r.Type),
		BaseURL:   r.BaseURL,
		Key:       r.APIKey,
		Config:    configValue(r.Config),
		Priority:  r.Priority,
		Weight:    r.Weight,
		Enabled:   r.Enabled,
		CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(),
	}
	if err := unmarshal(r.Models, &c.Models); err != nil {
		return nil, err
	}
	if err := unmarshal(r.ModelMapping, &c.ModelMapping); err != nil {
		return nil, err
	}
	c.ProxyURL, c.BreakerThreshold, c.LowBalance = r.ProxyURL, r.Threshold, r.LowBalance
	if r.Headers != "" {
		if err := unmarshal(r.Headers, &c.Headers); err != nil {
			return nil, err
		}
	}
	if c.Sets = []string{aiproxy.DefaultSet}; r.Sets != "" {
		if err := unmarshal(r.Sets, &c.Sets); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (r *channelRow) value() (*aiproxy.Channel, error) { return r.channel() }
func (r *channelRow) touch(t time.Time)                { r.UpdatedAt = t }

// Channel returns one channel, or ENOTFOUND.
func (s *Store) Channel(ctx context.Context, id int64) (*aiproxy.Channel, error) {
	c, err := findChannel(ctx, s.db.ro, id, false)
	return c, wrap("find channel", err)
}

// Channels returns every channel, ordered by id.
func (s *Store) Channels(ctx context.Context) ([]*aiproxy.Channel, error) {
	cs, err := listChannels(ctx, s.db.ro)
	return cs, wrap("list channels", err)
}

// CreateChannel validates c, stores it and sets its ID and times. It
// returns EINVALID for bad input. The Cache serves the channel when
// CreateChannel returns.
func (s *Store) CreateChannel(ctx context.Context, c *aiproxy.Channel) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := s.checkChannel(c); err != nil {
		return err
	}
	c.CreatedAt = now()
	c.UpdatedAt = c.CreatedAt
	row := toChannelRow(c)
	if _, err := s.db.rw.NewInsert().Model(row).Exec(ctx); err != nil {
		return wrap("create channel", err)
	}
	stored, err := row.channel()
	if err != nil {
		return wrap("create channel", err)
	}
	*c = *stored
	s.announce(ctx, ChangeChannel, strconv.FormatInt(c.ID, 10))
	return nil
}

// UpdateChannel applies upd and returns the channel as stored. It returns
// ENOTFOUND or EINVALID. The Cache serves the change when it returns.
func (s *Store) UpdateChannel(ctx context.Context, id int64, upd aiproxy.ChannelUpdate) (*aiproxy.Channel, error) {
	c, err := updateRow(ctx, s.db.rw, findChannel, id, upd.Apply, toChannelRow, s.checkChannel)
	if err != nil {
		return nil, wrap("update channel", err)
	}
	s.announce(ctx, ChangeChannel, strconv.FormatInt(id, 10))
	return c, nil
}

// DeleteChannel removes a channel, or returns ENOTFOUND. The Cache stops
// serving it when DeleteChannel returns.
func (s *Store) DeleteChannel(ctx context.Context, id int64) error {
	q := s.db.rw.NewDelete().Model((*channelRow)(nil)).Where("id = ?", id)
	if err := mustDelete(ctx, q, "channel %d not found", id); err != nil {
		return wrap("delete channel", err)
	}
	s.announce(ctx, ChangeChannel, strconv.FormatInt(id, 10))
	return nil
}

func (s *Store) checkChannel(c *aiproxy.Channel) error {
	if s.CheckChannel == nil {
		return nil
	}
	return s.CheckChannel(c)
}

// marshalHeaders returns the headers column: "" (NULL) for none.
func marshalHeaders(hs []aiproxy.Header) string {
	if len(hs) == 0 {
		return ""
	}
	return marshal(hs)
}

// configValue returns a stored config column as a channel's Config.
func configValue(s string) json.RawMessage {
	if s == "" || s == "{}" || s == "null" {
		return nil
	}
	return json.RawMessage(s)
}

// findChannel returns a channel or ENOTFOUND; lock locks its row until
// the transaction db ends.
func findChannel(ctx context.Context, db bun.IDB, id int64, lock bool) (*aiproxy.Channel, error) {
	row, err := findRow[channelRow](ctx, db, "id", id, lock, "channel %d not found")
	if err != nil {
		return nil, err
	}
	return row.channel()
}

func listChannels(ctx context.Context, db bun.IDB) ([]*aiproxy.Channel, error) {
	var rows []channelRow
	if err := db.NewSelect().Model(&rows).Order("id").Scan(ctx); err != nil {
		return nil, err
	}
	cs := make([]*aiproxy.Channel, len(rows))
	for i := range rows {
		c, err := rows[i].channel()
		if err != nil {
			return nil, err
		}
		cs[i] = c
	}
	return cs, nil
}

// marshal encodes a list column. nil encodes as [], so every row holds
// valid JSON.
func marshal[T any](v []T) string {
	if v == nil {
		v = []T{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // slices of strings and string structs always encode
	}
	return string(b)
}

// unmarshal decodes a list column; an empty list decodes as nil.
func unmarshal[T any](s string, v *[]T) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return err
	}
	if len(*v) == 0 {
		*v = nil
	}
	return nil
}
