package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/polyjobs/polyjobs/server/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationLockKey is the session advisory lock key (pg_advisory_lock) under
// which Open applies migrations: the bytes of "polyjobs" as a big-endian
// int64. Only one process migrates a database at a time; the others wait, then
// find nothing left to do.
const MigrationLockKey int64 = 0x706f6c796a6f6273

// unlockTimeout bounds how long releasing an advisory lock may take, even when
// the caller's context is already done.
const unlockTimeout = 5 * time.Second

// migrate applies, in order and each in its own transaction, the embedded
// migrations the database has not seen yet, while holding MigrationLockKey on
// a dedicated connection. A database whose schema is newer than this build's
// is refused.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, MigrationLockKey); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	defer unlock(ctx, conn.Conn(), MigrationLockKey)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    bigint      PRIMARY KEY,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	known, err := store.Migrations(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	var newest int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	if err := store.CheckSchemaVersion(newest, known); err != nil {
		return err
	}
	for _, m := range known {
		if err := apply(ctx, conn.Conn(), m.Version, m.Body); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// apply runs one migration and records its version, in one transaction,
// unless the version is already recorded.
func apply(ctx context.Context, conn *pgx.Conn, version int64, body string) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		// Without arguments Exec uses the simple protocol, which runs a
		// multi-statement script.
		if _, err := tx.Exec(ctx, body); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, time.Now().UTC())
		return err
	})
}
