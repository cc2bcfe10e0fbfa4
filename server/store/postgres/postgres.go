// Package postgres implements store.Store on PostgreSQL with pgx (pgxpool).
//
// Many replicas may share one database: the embedded schema migrations are
// applied at Open under a session advisory lock (MigrationLockKey), so
// replicas starting together apply each migration exactly once, and job
// transitions are compare-and-set UPDATEs, so exactly one of several
// concurrent writers wins. WithAdvisoryLock lets background work (the
// retention purge) run on one replica at a time.
//
// The pool reconnects by itself: while the server is unreachable every call
// returns an error, and calls succeed again once it is back.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/polyjobs/polyjobs/server/store"
)

// Store is a store.Store on one PostgreSQL database, through a connection pool.
type Store struct {
	pool   *pgxpool.Pool
	notify notifier
}

var (
	_ store.Store          = (*Store)(nil)
	_ store.BatchReader    = (*Store)(nil)
	_ store.ChangeNotifier = (*Store)(nil)
)

// Open connects to the PostgreSQL database named by dsn, a "postgres://" or
// "postgresql://" URL such as
//
//	postgres://polyjobs:secret@db.internal:5432/polyjobs?sslmode=require
//
// applies the embedded migrations the database has not seen yet and returns a
// ready store. Besides libpq's parameters the URL accepts pgxpool's, such as
// pool_max_conns. Open fails if the database cannot be reached; after that the
// pool reconnects on its own. Errors never include the password.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return nil, fmt.Errorf("postgres: the DSN must be a postgres:// or postgresql:// URL")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors already redact the password.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgxpool's default, max(4, CPUs), queues a busy API server's lookups
		// behind a handful of connections while each waits on the network.
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", Redact(dsn), err)
	}
	s := &Store{pool: pool, notify: notifier{connConfig: cfg.ConnConfig}}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", Redact(dsn), err)
	}
	return s, nil
}

// DefaultMaxConns is the pool size when the DSN sets no pool_max_conns.
const DefaultMaxConns = 16

// Unreachable reports whether err, from Open or any call, means the database
// server could not be reached (refused, unreachable, timed out) or is not
// ready for connections yet (starting up, shutting down, full), as opposed
// to a server that answered with an error (a wrong password, a missing
// database): worth waiting for, rather than a mistake to report.
func Unreachable(err error) bool {
	var connErr *pgconn.ConnectError
	if !errors.As(err, &connErr) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	switch pgErr.Code {
	case "57P01", "57P02", "57P03", "53300": // shutting down, crashed, starting up, too many connections
		return true
	}
	return false
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close stops listening for changes and closes every connection of the
// pool, waiting for those in use to be released. It always returns nil.
func (s *Store) Close() error {
	s.notify.close()
	s.pool.Close()
	return nil
}

// Pool returns the underlying connection pool, for tests and tools that need
// to reach the database directly.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Redact returns a postgres:// URL with every password masked: the one in
// its user information and any password or sslpassword query parameter
// (pgx accepts both). An unparsable URL is not shown at all.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	u.RawQuery = queryPassword.ReplaceAllString(u.RawQuery, "${1}"+redacted)
	return u.String()
}

// redacted stands for a password in what is printed.
const redacted = "xxxxx"

// queryPassword matches a password parameter of a URL's query, in any case.
var queryPassword = regexp.MustCompile(`(?i)((?:^|&)(?:ssl)?password=)[^&]*`)

// notFound maps pgx.ErrNoRows to store.ErrNotFound with context.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
