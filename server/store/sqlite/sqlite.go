// Package sqlite implements store.Store on an embedded SQLite database
// (modernc.org/sqlite, no cgo) in WAL mode.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/polyjobs/polyjobs/server/store"
)

// BusyTimeout is how long a writer waits for another writer's lock before
// giving up with "database is locked".
const BusyTimeout = 5 * time.Second

// Store is a store.Store on one SQLite database file.
type Store struct {
	db   *sql.DB
	path string

	getJob    *sql.Stmt
	keyByHash *sql.Stmt

	// pin is a connection held for the store's whole life, so that the
	// database's -shm file, which wal maps, stays the same file.
	pin *sql.Conn
	// wal, when not nil, says whether anything was committed since a job
	// was read; recent holds those jobs (see walwatch.go).
	wal    *walWatch
	recent recentJobs
	// watching says the store holds a share of its -shm file's mapping.
	watching bool
	// reads counts job lookups that reached the database, for tests.
	reads atomic.Int64
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it if needed) the SQLite database at path, applies the
// embedded migrations and returns a ready store. path may be a plain file path
// or a "file:" URI; ":memory:" is refused, since every pooled connection would
// see a different database.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: a database file path is required")
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// WAL lets readers proceed while one writer commits; writers queue on the
	// busy timeout. A handful of connections is plenty for an embedded database.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: db, path: path}
	if err := s.init(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if !strings.HasPrefix(path, "file:") {
		// Without the watch every lookup reads the database: slower, same answers.
		s.wal, _ = openWALWatch(path)
		s.watching = true
	}
	return s, nil
}

// dsn turns a path into a modernc.org/sqlite data source name with the pragmas
// every connection needs.
func dsn(path string) string {
	u := path
	if !strings.HasPrefix(u, "file:") {
		u = "file:" + (&url.URL{Path: path}).EscapedPath()
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + q.Encode()
}

func (s *Store) init(ctx context.Context) error {
	if err := migrate(ctx, s.db); err != nil {
		return err
	}
	var err error
	if s.pin, err = s.db.Conn(ctx); err != nil {
		return err
	}
	if err := s.pin.PingContext(ctx); err != nil {
		return err
	}
	if s.getJob, err = s.db.PrepareContext(ctx, selectJob+` WHERE id = ? AND org_id = ?`); err != nil {
		return err
	}
	if s.keyByHash, err = s.db.PrepareContext(ctx, selectKey+` WHERE hash = ?`); err != nil {
		return err
	}
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.db.PingContext(ctx)
}

// Close closes the database.
func (s *Store) Close() error {
	if s.pin != nil {
		s.pin.Close()
	}
	err := s.db.Close()
	if s.watching {
		s.watching = false
		releaseWALWatch(s.path)
	}
	return err
}

// DB returns the underlying database handle, for tests that need to break it.
func (s *Store) DB() *sql.DB { return s.db }

// micros converts a time to the integer the schema stores.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros converts a stored integer back to a UTC time.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// now is the current time truncated to what the schema stores.

// notFound maps sql.ErrNoRows to store.ErrNotFound with context.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
