package postgres

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"

	"github.com/polyjobs/polyjobs/server/store"
)

// PurgeLockKey is the advisory lock key for the retention purge: with
// WithAdvisoryLock(ctx, PurgeLockKey, ...) only one replica purges at a time.
// It is MigrationLockKey plus one.
const PurgeLockKey = MigrationLockKey + 1

var _ store.Exclusive = (*Store)(nil)

// WithAdvisoryLock runs fn while holding the PostgreSQL session advisory lock
// key, if no other session holds it, and reports whether it did.
//
// It opens a connection of its own, outside the pool, and tries
// pg_try_advisory_lock without waiting: when another session (typically
// another replica) holds the lock, it returns false and a nil error without
// calling fn. Otherwise it calls fn, releases the lock (pg_advisory_unlock)
// and returns true with fn's error. The connection is closed in every case,
// fn panicking or ctx done included, which would release the lock too. Being
// outside the pool, it leaves fn every pooled connection: with
// pool_max_conns=1, a fn that queries through the store would otherwise wait
// for ever for the connection the lock holds.
//
// The lock belongs to the connection's session: if the connection to the
// server is lost while fn runs, the server drops the lock and another replica
// may take it before fn returns. Use it to avoid duplicate work (such as
// purging expired jobs, which is idempotent), not for mutual exclusion that
// correctness depends on.
//
// Keys are shared with every other user of pg_advisory_lock on the database;
// MigrationLockKey and PurgeLockKey are the keys this package uses.
func (s *Store) WithAdvisoryLock(ctx context.Context, key int64, fn func(ctx context.Context) error) (acquired bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, fmt.Errorf("postgres: advisory lock %d: %w", key, err)
	}
	defer closeConn(ctx, conn)
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&acquired); err != nil {
		return false, fmt.Errorf("postgres: advisory lock %d: %w", key, err)
	}
	if !acquired {
		return false, nil
	}
	defer unlock(ctx, conn, key)
	return true, fn(ctx)
}

// unlock releases a session advisory lock held by conn. If that fails (the
// connection is broken, ctx is done...), it closes the connection instead,
// which ends the session and so releases the lock; a pool then discards the
// connection when it is released.
func unlock(ctx context.Context, conn *pgx.Conn, key int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	var released bool
	err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, key).Scan(&released)
	if err != nil || !released {
		_ = conn.Close(ctx)
	}
}

// closeConn closes a connection of its own, within unlockTimeout even when
// ctx is done.
func closeConn(ctx context.Context, conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}

// TryExclusive implements store.Exclusive with an advisory lock per name:
// "purge" uses PurgeLockKey, other names a key derived from the name.
func (s *Store) TryExclusive(ctx context.Context, name string, fn func(ctx context.Context) error) (bool, error) {
	key := PurgeLockKey
	if name != "purge" {
		h := fnv.New32a()
		h.Write([]byte(name))
		key = MigrationLockKey + 2 + int64(h.Sum32())
	}
	return s.WithAdvisoryLock(ctx, key, fn)
}
