package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

// tokenRow holds a token. The key itself is never stored: only its hash,
// looked up through a unique index, and a displayable prefix.
type tokenRow struct {
	bun.BaseModel `bun:"table:tokens"`

	ID          int64      `bun:"id,pk,autoincrement"`
	GroupID     string     `bun:"group_id"`
	Name        string     `bun:"name"`
	Prefix      string     `bun:"prefix"`
	KeyHash     string     `bun:"key_hash"`
	Models      string     `bun:"models"`    // JSON array of strings
	MCPTools    string     `bun:"mcp_tools"` // JSON array of strings; NULL (rows before it) reads as "": none
	Subnets     string     `bun:"subnets"`   // JSON array of strings
	ExpiresAt   *time.Time `bun:"expires_at"`
	Enabled     bool       `bun:"enabled"`
	Quota       int64      `bun:"quota"`
	PeriodQuota int64      `bun:"period_quota"`
	Period      string     `bun:"period"`
	RPM         int64      `bun:"rpm"`
	TPM         int64      `bun:"tpm"`
	// Written by the ledger only (ledgerColumns).
	UsedAmount   int64      `bun:"used_amount"`
	RequestCount int64      `bun:"request_count"`
	PeriodUsed   int64      `bun:"period_used"`
	PeriodStart  *time.Time `bun:"period_start"`
	CreatedAt    time.Time  `bun:"created_at"`
	UpdatedAt    time.Time  `bun:"updated_at"`
}

func toTokenRow(t *aiproxy.Token) *tokenRow {
	r := &tokenRow{
		ID:           t.ID,
		GroupID:      t.GroupID,
		Name:         t.Name,
		Prefix:       t.Prefix,
		KeyHash:      t.KeyHash,
		Models:       marshal(t.Models),
		MCPTools:     marshal(t.MCPTools),
		Subnets:      marshal(t.Subnets),
		Enabled:      t.Enabled,
		Quota:        int64(t.Quota),
		PeriodQuota:  int64(t.PeriodQuota),
		Period:       string(t.Period),
		RPM:          t.RPM,
		TPM:          t.TPM,
		UsedAmount:   int64(t.UsedAmount),
		RequestCount: t.RequestCount,
		PeriodUsed:   int64(t.PeriodUsed),
		CreatedAt:    utc(t.CreatedAt),
		UpdatedAt:    utc(t.UpdatedAt),
	}
	if t.ExpiresAt != nil {
		e := utc(*t.ExpiresAt)
		r.ExpiresAt = &e
	}
	if !t.PeriodStart.IsZero() {
		ps := utc(t.PeriodStart)
		r.PeriodStart = &ps
	}
	return r
}

func (r *tokenRow) token() (*aiproxy.Token, error) {
	t := &aiproxy.Token{
		ID:           r.ID,
		GroupID:      r.GroupID,
		Name:         r.Name,
		Prefix:       r.Prefix,
		KeyHash:      r.KeyHash,
		Enabled:      r.Enabled,
		Quota:        aiproxy.Amount(r.Quota),
		PeriodQuota:  aiproxy.Amount(r.PeriodQuota),
		Period:       aiproxy.QuotaPeriod(r.Period),
		RPM:          r.RPM,
		TPM:          r.TPM,
		UsedAmount:   aiproxy.Amount(r.UsedAmount),
		RequestCount: r.RequestCount,
		PeriodUsed:   aiproxy.Amount(r.PeriodUsed),
		CreatedAt:    r.CreatedAt.UTC(),
		UpdatedAt:    r.UpdatedAt.UTC(),
	}
	if r.ExpiresAt != nil {
		e := r.ExpiresAt.UTC()
		t.ExpiresAt = &e
	}
	if r.PeriodStart != nil {
		t.PeriodStart = r.PeriodStart.UTC()
	}
	if err := unmarshal(r.Models, &t.Models); err != nil {
		return nil, err
	}
	if err := unmarshal(r.Subnets, &t.Subnets); err != nil {
		return nil, err
	}
	if r.MCPTools != "" {
		if err := unmarshal(r.MCPTools, &t.MCPTools); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (r *tokenRow) value() (*aiproxy.Token, error) { return r.token() }
func (r *tokenRow) touch(t time.Time)              { r.UpdatedAt = t }
func (r *tokenRow) ledgerColumns() []string {
	return []string{"used_amount", "request_count", "period_used", "period_start"}
}

// Token returns one token, or ENOTFOUND.
func (s *Store) Token(ctx context.Context, id int64) (*aiproxy.Token, error) {
	t, err := findToken(ctx, s.db.ro, id, false)
	return t, wrap("find token", err)
}

// Tokens returns the tokens of a group ("" for every group), ordered by id.
// An unknown group has no tokens.
func (s *Store) Tokens(ctx context.Context, groupID string) ([]*aiproxy.Token, error) {
	var rows []tokenRow
	q := s.db.ro.NewSelect().Model(&rows).Order("id")
	if groupID != "" {
		q = q.Where("group_id = ?", groupID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrap("list tokens", err)
	}
	ts := make([]*aiproxy.Token, len(rows))
	for i := range rows {
		t, err := rows[i].token()
		if err != nil {
			return nil, wrap("list tokens", err)
		}
		ts[i] = t
	}
	return ts, nil
}

// CreateToken generates a key for t, stores t with the key's hash and
// prefix (setting KeyHash, Prefix, ID and times) and returns the key: the
// only time it is ever available. It returns EINVALID, or ENOTFOUND with
// Field "group" when the group does not exist.
func (s *Store) CreateToken(ctx context.Context, t *aiproxy.Token) (string, error) {
	if err := t.Validate(); err != nil {
		return "", err
	}
	key := aiproxy.NewTokenKey()
	t.UsedAmount, t.RequestCount, t.PeriodUsed, t.PeriodStart = 0, 0, 0, time.Time{}
	t.KeyHash = aiproxy.HashKey(key)
	t.Prefix = aiproxy.KeyPrefix(key)
	t.CreatedAt = now()
	t.UpdatedAt = t.CreatedAt
	row := toTokenRow(t)
	err := s.db.rw.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if s.MaxTokensPerGroup > 0 {
			// Lock the group row, so that concurrent creations count in turn.
			if _, err := findGroup(ctx, tx, t.GroupID, true); err != nil {
				return err
			}
			n, err := tx.NewSelect().Model((*tokenRow)(nil)).Where("group_id = ?", t.GroupID).Count(ctx)
			if err != nil {
				return err
			}
			if int(n) >= s.MaxTokensPerGroup {
				return aiproxy.ReasonErrorf(aiproxy.EFORBIDDEN, "token_limit", "group %q has %d tokens, the most allowed (GROUP_MAX_TOKEN_NUM)", t.GroupID, n)
			}
		}
		_, err := tx.NewInsert().Model(row).Exec(ctx)
		return err
	})
	var ae *aiproxy.Error
	if errors.As(err, &ae) && ae.Code == aiproxy.EFORBIDDEN {
		return "", err
	} else if (errors.As(err, &ae) && ae.Code == aiproxy.ENOTFOUND) || violation(err) == violationForeignKey {
		return "", &aiproxy.Error{Code: aiproxy.ENOTFOUND, Field: "group", Message: fmt.Sprintf("group %q not found", t.GroupID)}
	} else if err != nil {
		return "", wrap("create token", err)
	}
	stored, err := row.token()
	if err != nil {
		return "", wrap("create token", err)
	}
	*t = *stored
	s.announce(ctx, ChangeToken, strconv.FormatInt(t.ID, 10))
	return key, nil
}

// UpdateToken applies upd and returns the token as stored, or returns
// ENOTFOUND / EINVALID. The Cache serves the change when it returns.
func (s *Store) UpdateToken(ctx context.Context, id int64, upd aiproxy.TokenUpdate) (*aiproxy.Token, error) {
	t, err := updateRow(ctx, s.db.rw, findToken, id, upd.Apply, toTokenRow)
	if err != nil {
		return nil, wrap("update token", err)
	}
	s.announce(ctx, ChangeToken, strconv.FormatInt(id, 10))
	return t, nil
}

// DeleteToken removes a token, or returns ENOTFOUND. The token stops
// working when DeleteToken returns.
func (s *Store) DeleteToken(ctx context.Context, id int64) error {
	q := s.db.rw.NewDelete().Model((*tokenRow)(nil)).Where("id = ?", id)
	if err := mustDelete(ctx, q, "token %d not found", id); err != nil {
		return wrap("delete token", err)
	}
	s.announce(ctx, ChangeToken, strconv.FormatInt(id, 10))
	return nil
}

// findToken returns a token or ENOTFOUND; lock locks its row until the
// transaction db ends.
func findToken(ctx context.Context, db bun.IDB, id int64, lock bool) (*aiproxy.Token, error) {
	row, err := findRow[tokenRow](ctx, db, "id", id, lock, "token %d not found")
	if err != nil {
		return nil, err
	}
	return row.token()
}

// findKey returns the token with the given key hash and its group, or
// ENOTFOUND.
func findKey(ctx context.Context, db bun.IDB, hash string) (*aiproxy.Token, *aiproxy.Group, error) {
	var row tokenRow
	if err := db.NewSelect().Model(&row).Where("key_hash = ?", hash).Scan(ctx); err != nil {
		return nil, nil, notFound(err, "no token has this key")
	}
	t, err := row.token()
	if err != nil {
		return nil, nil, err
	}
	g, err := findGroup(ctx, db, t.GroupID, false)
	if err != nil {
		return nil, nil, err
	}
	return t, g, nil
}
