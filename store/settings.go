package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// settingRow is a row of settings: a value every replica sharing the
// database reads.
type settingRow struct {
	bun.BaseModel `bun:"table:settings"`
	Name          string    `bun:"name,pk"`
	Value         string    `bun:"value"`
	UpdatedAt     time.Time `bun:"updated_at"`
}

// settingAdminKeyHash names the SHA-256 (hex) of the generated admin key.
const settingAdminKeyHash = "admin_key_sha256"

// AdminKeyHash returns the hash (hex SHA-256) of the admin key the
// replicas sharing this database use when ADMIN_KEY is not set, storing
// hash when none is stored yet; stored reports whether it was. Replicas
// starting together agree: the first hash stored wins, the others read it.
func (s *Store) AdminKeyHash(ctx context.Context, hash string) (kept string, stored bool, err error) {
	row := &settingRow{Name: settingAdminKeyHash, Value: hash, UpdatedAt: time.Now().UTC()}
	q := s.db.rw.NewInsert().Model(row)
	if s.db.dialect == MySQL {
		q = q.Ignore()
	} else {
		q = q.On("CONFLICT (name) DO NOTHING")
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return "", false, fmt.Errorf("store: keep the admin key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return hash, true, nil
	}
	var got settingRow
	if err := s.db.rw.NewSelect().Model(&got).Where("name = ?", settingAdminKeyHash).Scan(ctx); err != nil {
		return "", false, fmt.Errorf("store: read the admin key: %w", err)
	}
	return got.Value, false, nil
}
