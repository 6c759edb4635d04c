package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

type groupRow struct {
	bun.BaseModel `bun:"table:groups"`

	ID             string  `bun:"id,pk"`
	Description    string  `bun:"description"`
	Enabled        bool    `bun:"enabled"`
	Sets           string  `bun:"available_sets,nullzero"` // JSON array of strings; NULL (rows before sets) is {default}
	RPMRatio       float64 `bun:"rpm_ratio"`
	TPMRatio       float64 `bun:"tpm_ratio"`
	MaxConcurrency int64   `bun:"max_concurrency"`
	Prepaid        bool    `bun:"prepaid"`
	Credit         int64   `bun:"credit"`
	LowBalance     int64   `bun:"low_balance"`
	// Written by the ledger only (ledgerColumns).
	UsedAmount   int64     `bun:"used_amount"`
	RequestCount int64     `bun:"request_count"`
	CreatedAt    time.Time `bun:"created_at"`
	UpdatedAt    time.Time `bun:"updated_at"`
}

func toGroupRow(g *aiproxy.Group) *groupRow {
	return &groupRow{
		ID:             g.ID,
		Description:    g.Description,
		Enabled:        g.Enabled,
		Sets:           marshal(g.AvailableSets),
		RPMRatio:       g.RPMRatio,
		TPMRatio:       g.TPMRatio,
		MaxConcurrency: g.MaxConcurrency,
		Prepaid:        g.Prepaid,
		Credit:         int64(g.Credit),
		LowBalance:     int64(g.LowBalance),
		UsedAmount:     int64(g.UsedAmount),
		RequestCount:   g.RequestCount,
		CreatedAt:      utc(g.CreatedAt),
		UpdatedAt:      utc(g.UpdatedAt),
	}
}

func (r *groupRow) group() *aiproxy.Group {
	g := &aiproxy.Group{
		ID:             r.ID,
		Description:    r.Description,
		Enabled:        r.Enabled,
		AvailableSets:  []string{aiproxy.DefaultSet},
		RPMRatio:       r.RPMRatio,
		TPMRatio:       r.TPMRatio,
		MaxConcurrency: r.MaxConcurrency,
		Prepaid:        r.Prepaid,
		Credit:         aiproxy.Amount(r.Credit),
		LowBalance:     aiproxy.Amount(r.LowBalance),
		UsedAmount:     aiproxy.Amount(r.UsedAmount),
		RequestCount:   r.RequestCount,
		CreatedAt:      r.CreatedAt.UTC(),
		UpdatedAt:      r.UpdatedAt.UTC(),
	}
	if r.Sets != "" {
		var sets []string
		if unmarshal(r.Sets, &sets) == nil && len(sets) > 0 {
			g.AvailableSets = sets
		}
	}
	return g
}

func (r *groupRow) value() (*aiproxy.Group, error) { return r.group(), nil }
func (r *groupRow) touch(t time.Time)              { r.UpdatedAt = t }
func (r *groupRow) ledgerColumns() []string        { return []string{"used_amount", "request_count"} }

// Group returns one group, or ENOTFOUND.
func (s *Store) Group(ctx context.Context, id string) (*aiproxy.Group, error) {
	g, err := findGroup(ctx, s.db.ro, id, false)
	return g, wrap("find group", err)
}

// Groups returns every group, ordered by id (byte-wise, whatever the
// database's collation).
func (s *Store) Groups(ctx context.Context) ([]*aiproxy.Group, error) {
	var rows []groupRow
	if err := s.db.ro.NewSelect().Model(&rows).Scan(ctx); err != nil {
		return nil, wrap("list groups", err)
	}
	gs := make([]*aiproxy.Group, len(rows))
	for i := range rows {
		gs[i] = rows[i].group()
	}
	slices.SortFunc(gs, func(a, b *aiproxy.Group) int { return strings.Compare(a.ID, b.ID) })
	return gs, nil
}

// CreateGroup stores g and sets its times. It returns EINVALID, or
// ECONFLICT when the id is taken.
func (s *Store) CreateGroup(ctx context.Context, g *aiproxy.Group) error {
	if err := g.Validate(); err != nil {
		return err
	}
	g.CreatedAt = now()
	g.UpdatedAt = g.CreatedAt
	g.UsedAmount, g.RequestCount = 0, 0
	if !g.Prepaid {
		g.Credit = 0
	}
	_, err := s.db.rw.NewInsert().Model(toGroupRow(g)).Exec(ctx)
	if violation(err) == violationUnique {
		return &aiproxy.Error{Code: aiproxy.ECONFLICT, Field: "id", Message: "group " + g.ID + " already exists"}
	} else if err != nil {
		return wrap("create group", err)
	}
	s.announce(ctx, ChangeGroup, g.ID)
	return nil
}

// UpdateGroup applies upd and returns the group as stored, or returns
// ENOTFOUND / EINVALID. The Cache serves the change to the group's tokens
// when it returns.
func (s *Store) UpdateGroup(ctx context.Context, id string, upd aiproxy.GroupUpdate) (*aiproxy.Group, error) {
	g, err := updateRow(ctx, s.db.rw, findGroup, id, upd.Apply, toGroupRow)
	if err != nil {
		return nil, wrap("update group", err)
	}
	s.announce(ctx, ChangeGroup, id)
	return g, nil
}

// DeleteGroup removes a group together with its tokens, or returns
// ENOTFOUND. Its logs stay. The group's tokens stop working when it
// returns.
func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	if err := deleteGroup(ctx, s.db.rw, id); err != nil {
		return wrap("delete group", err)
	}
	s.announce(ctx, ChangeGroup, id)
	return nil
}

// deleteGroup deletes a group and its tokens atomically, in a transaction
// of its own or, when db is one, a savepoint.
func deleteGroup(ctx context.Context, db bun.IDB, id string) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewDelete().Model((*tokenRow)(nil)).Where("group_id = ?", id).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*groupModelConfigRow)(nil)).Where("group_id = ?", id).Exec(ctx); err != nil {
			return err
		}
		q := tx.NewDelete().Model((*groupRow)(nil)).Where("id = ?", id)
		return mustDelete(ctx, q, "group %q not found", id)
	})
}

// findGroup returns a group or ENOTFOUND; lock locks its row until the
// transaction db ends.
func findGroup(ctx context.Context, db bun.IDB, id string, lock bool) (*aiproxy.Group, error) {
	row, err := findRow[groupRow](ctx, db, "id", id, lock, "group %q not found")
	if err != nil {
		return nil, err
	}
	return row.group(), nil
}
