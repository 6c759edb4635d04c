package store

import (
	"context"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/aiproxy/aiproxy"
)

var _ aiproxy.BillingService = (*Store)(nil)

type balanceEntryRow struct {
	bun.BaseModel `bun:"table:balance_entries"`

	ID        int64     `bun:"id,pk,autoincrement"`
	GroupID   string    `bun:"group_id"`
	Amount    int64     `bun:"amount"`
	Balance   int64     `bun:"balance"`
	Kind      string    `bun:"kind"`
	Reason    string    `bun:"reason"`
	Actor     string    `bun:"actor"`
	CreatedAt time.Time `bun:"created_at"`
}

func (r *balanceEntryRow) entry() *aiproxy.BalanceEntry {
	return &aiproxy.BalanceEntry{ID: r.ID, GroupID: r.GroupID, Amount: aiproxy.Amount(r.Amount), Balance: aiproxy.Amount(r.Balance),
		Kind: r.Kind, Reason: r.Reason, Actor: r.Actor, CreatedAt: r.CreatedAt.UTC()}
}

// ChangeBalance adds amount to a group's credit, and so to its balance,
// and records the change with who made it and why, in one transaction.
// A top-up must be positive, an adjustment not zero; the reason is
// required. EINVALID (naming the field), or ENOTFOUND.
func (s *Store) ChangeBalance(ctx context.Context, groupID, kind string, amount aiproxy.Amount, reason, actor string) (*aiproxy.BalanceEntry, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case kind != aiproxy.BalanceTopUp && kind != aiproxy.BalanceAdjustment:
		return nil, aiproxy.FieldErrorf("kind", "kind must be %s or %s", aiproxy.BalanceTopUp, aiproxy.BalanceAdjustment)
	case kind == aiproxy.BalanceTopUp && amount <= 0:
		return nil, aiproxy.FieldErrorf("amount", "a top-up must be positive")
	case amount == 0:
		return nil, aiproxy.FieldErrorf("amount", "an adjustment must not be zero")
	case reason == "":
		return nil, aiproxy.FieldErrorf("reason", "a reason is required")
	case len(reason) > 512:
		return nil, aiproxy.FieldErrorf("reason", "reason must be at most 512 characters")
	}
	var row *balanceEntryRow
	err := s.db.rw.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		g, err := findRow[groupRow](ctx, tx, "id", groupID, true, "group %q not found")
		if err != nil {
			return err
		}
		// The credit changes by an increment, like the ledger's used amount.
		if _, err := tx.NewUpdate().Model((*groupRow)(nil)).Set("credit = credit + ?", int64(amount)).Set("updated_at = ?", now()).
			Where("id = ?", groupID).Exec(ctx); err != nil {
			return err
		}
		row = &balanceEntryRow{GroupID: groupID, Amount: int64(amount), Balance: g.Credit + int64(amount) - g.UsedAmount,
			Kind: kind, Reason: reason, Actor: text(actor, 128), CreatedAt: now()}
		_, err = tx.NewInsert().Model(row).Exec(ctx)
		return err
	})
	if err != nil {
		return nil, wrap("change balance", err)
	}
	s.announce(ctx, ChangeGroup, groupID)
	return row.entry(), nil
}

// BalanceEntries returns a group's balance changes, newest first: at
// most limit (0 means 50, at most 500) with ID < before (0: from the
// newest).
func (s *Store) BalanceEntries(ctx context.Context, groupID string, before int64, limit int) ([]*aiproxy.BalanceEntry, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	var rows []balanceEntryRow
	q := s.db.ro.NewSelect().Model(&rows).Where("group_id = ?", groupID).OrderExpr("id DESC").Limit(int64(limit))
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, wrap("list balance entries", err)
	}
	out := make([]*aiproxy.BalanceEntry, len(rows))
	for i := range rows {
		out[i] = rows[i].entry()
	}
	return out, nil
}
