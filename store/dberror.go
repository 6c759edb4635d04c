package store

import (
	"errors"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Constraint violations, told apart across the three drivers.
const (
	violationUnique = iota + 1
	violationForeignKey
)

// violation returns which constraint err violates, or 0.
func violation(err error) int {
	var (
		sqliteErr *sqlite.Error
		pgErr     *pgconn.PgError
		myErr     *mysql.MySQLError
	)
	switch {
	case errors.As(err, &sqliteErr):
		switch sqliteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return violationUnique
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return violationForeignKey
		}
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case "23505":
			return violationUnique
		case "23503":
			return violationForeignKey
		}
	case errors.As(err, &myErr):
		switch myErr.Number {
		case 1062: // ER_DUP_ENTRY
			return violationUnique
		case 1451, 1452: // ER_ROW_IS_REFERENCED_2, ER_NO_REFERENCED_ROW_2
			return violationForeignKey
		}
	}
	return 0
}
