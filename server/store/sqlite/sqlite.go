// Package sqlite implements store.Store on an embedded SQLite database
// (modernc.org/sqlite, no cgo) in WAL mode.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/polyjobs/polyjobs/server/store"
)

// BusyTimeout is how long a writer waits for another writer's lock before
// giving up with "database is locked".
const BusyTimeout = 5 * time.Second

// FileMode is the mode of a database file the store creates; SQLite gives its
// -wal and -shm files the same. Jobs' results may be confidential.
const FileMode fs.FileMode = 0o600

// ErrNoDatabase means Options.MustExist was set and the file does not exist.
var ErrNoDatabase = errors.New("no such database")

// Store is a store.Store on one SQLite database file.
type Store struct {
	db   *sql.DB
	path string
	// file identifies the database file opened, so that Ping notices when
	// the file at path is deleted or replaced (nil for "file:" URIs).
	file os.FileInfo

	getJob    *sql.Stmt
	keyByHash *sql.Stmt

	// pin is a connection held for the store's whole life, so that the
	// database's -shm file, which wal maps, stays the same file.
	pin *sql.Conn
	// wal, when not nil, tells whether anything was committed (ChangeToken).
	// walMu guards it: Close unmaps its memory while a request, or the wait
	// hub, may still ask for the token.
	walMu sync.RWMutex
	wal   *walWatch
	// subs hear of the transitions made through this store.
	subs store.Subscribers
}

var (
	_ store.Store          = (*Store)(nil)
	_ store.ChangeWatcher  = (*Store)(nil)
	_ store.ChangeNotifier = (*Store)(nil)
	_ store.MultiReader    = (*Store)(nil)
)

// Options tune Open.
type Options struct {
	// MustExist refuses to create a database: opening a path where no file
	// exists fails with ErrNoDatabase (administration commands, which must
	// not leave an empty database behind a mistyped path).
	MustExist bool
}

// Open opens, creating it if needed, the SQLite database at path, applies the
// embedded migrations and returns a ready store.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options. path may be a plain file path or a "file:"
// URI; ":memory:" is refused, since every pooled connection would see a
// different database. A new database file is created with FileMode.
func OpenWith(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: a database file path is required")
	}
	s := &Store{path: path}
	if !strings.HasPrefix(path, "file:") {
		info, err := createFile(path, opts.MustExist)
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		s.file = info
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
	s.db = db
	if err := s.init(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if s.file != nil {
		// Without the watch ChangeToken reports false: slower, same answers.
		s.wal, _ = openWALWatch(path)
	}
	return s, nil
}

// createFile makes sure a database file exists at path, creating an empty
// one with FileMode unless mustExist, and returns what it is.
func createFile(path string, mustExist bool) (os.FileInfo, error) {
	info, err := os.Stat(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return info, err
	}
	if mustExist {
		return nil, ErrNoDatabase
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	if f != nil {
		f.Close()
	}
	return os.Stat(path)
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

// Ping reports whether the database answers and is still the file at the
// path it was opened from: a database deleted or replaced under a running
// server would otherwise go on serving a file nobody else sees.
func (s *Store) Ping(ctx context.Context) error {
	if s.file != nil {
		info, err := os.Stat(s.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("sqlite: the database file %s was deleted; restart to open a new one", s.path)
		case err != nil:
			return fmt.Errorf("sqlite: %w", err)
		case !os.SameFile(info, s.file):
			return fmt.Errorf("sqlite: the database file %s was replaced by another file; restart to open it", s.path)
		}
	}
	return s.db.PingContext(ctx)
}

// ChangeToken implements store.ChangeWatcher from the WAL-index header (see
// walwatch.go): it changes with every commit, by any process.
func (s *Store) ChangeToken() (store.ChangeToken, bool) {
	s.walMu.RLock()
	defer s.walMu.RUnlock()
	if s.wal == nil {
		return store.ChangeToken{}, false
	}
	return s.wal.token()
}

// Subscribe implements store.ChangeNotifier for the transitions made
// through this store. Another process's commits move the ChangeToken.
func (s *Store) Subscribe(fn func(id uuid.UUID)) (stop func()) { return s.subs.Subscribe(fn) }

// Close closes the database.
func (s *Store) Close() error {
	if s.pin != nil {
		s.pin.Close()
	}
	err := s.db.Close()
	s.walMu.Lock()
	defer s.walMu.Unlock()
	if s.wal != nil {
		s.wal = nil
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

// notFound maps sql.ErrNoRows to store.ErrNotFound with context.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
