package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/polyjobs/polyjobs/server/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies, in order and each in its own transaction, the embedded
// migrations the database has not seen yet. It reads which versions are
// applied first, so that opening a database already up to date takes no
// write lock (another process may hold it, for long); the immediate
// transaction lock then serializes processes that migrate at the same time.
// A database whose schema is newer than this build's is refused.
func migrate(ctx context.Context, db *sql.DB) error {
	known, err := store.Migrations(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return err
	}
	newest := int64(0)
	for v := range applied {
		newest = max(newest, v)
	}
	if err := store.CheckSchemaVersion(newest, known); err != nil {
		return err
	}
	for _, m := range known {
		if applied[m.Version] {
			continue
		}
		if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at INTEGER NOT NULL
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		if err := apply(ctx, db, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// appliedVersions reads the versions schema_migrations records: none in a
// new database, which has no such table yet.
func appliedVersions(ctx context.Context, db *sql.DB) (map[int64]bool, error) {
	var exists int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	applied := map[int64]bool{}
	if exists == 0 {
		return applied, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// apply runs one migration and records its version, in one transaction,
// unless another process recorded it meanwhile.
func apply(ctx context.Context, db *sql.DB, m store.Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.Body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, micros(time.Now())); err != nil {
		return err
	}
	return tx.Commit()
}
