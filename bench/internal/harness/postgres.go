//go:build linux

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/polyjobs/polyjobs/internal/pgserver"
)

// EnvPostgres names a postgres:// URL of a server on which a benchmark may
// create (and then drop) a database, instead of starting one of its own.
const EnvPostgres = "POLYJOBS_BENCH_POSTGRES"

// ErrNoPostgres means PostgreSQL cannot be had: neither EnvPostgres nor the
// binaries (or, as root, the postgres user) to start a server.
var ErrNoPostgres = errors.New("no PostgreSQL")

// Postgres is a fresh database for a benchmark, and how to get rid of it:
// drop it, then stop the throwaway server if the benchmark started one.
type Postgres struct {
	DSN     string // the database's URL
	Version string // the server's version, such as "postgres (PostgreSQL) 16.4"
	admin   string // the server's admin URL
	name    string
	server  *pgserver.Server // nil when the server is someone else's
}

// OpenPostgres returns a fresh database named prefix_<random>: on the server
// of EnvPostgres when it is set, else on a throwaway server (see
// internal/pgserver) in a directory named prefix-postgres-*, its command line
// rewritten by wrap if not nil (to place it on CPUs). Its error wraps
// ErrNoPostgres when there is neither.
func OpenPostgres(ctx context.Context, prefix string, wrap func([]string) []string) (*Postgres, error) {
	db := &Postgres{admin: os.Getenv(EnvPostgres)}
	if db.admin == "" {
		srv, err := pgserver.New(ctx, pgserver.Options{TempPrefix: prefix + "-postgres-", LogTag: prefix, Wrap: wrap})
		if errors.Is(err, pgserver.ErrUnavailable) {
			return nil, fmt.Errorf("%w: %v, and %s is not set", ErrNoPostgres, err, EnvPostgres)
		}
		if err != nil {
			return nil, err
		}
		db.server, db.admin, db.Version = srv, srv.AdminDSN(), srv.Version()
	}
	db.name = pgserver.UniqueName(prefix + "_")
	dsn, err := pgserver.CreateDatabase(ctx, db.admin, db.name)
	if errors.Is(err, pgserver.ErrNotURL) {
		err = fmt.Errorf("%s must be a postgres:// URL", EnvPostgres)
	}
	if err != nil {
		db.name = ""
		_ = db.Close()
		return nil, err
	}
	db.DSN = dsn
	if db.Version == "" {
		db.Version = pgserver.ServerVersion(ctx, db.admin)
	}
	return db, nil
}

// Close drops the database, stops the throwaway server and removes its
// directory, as far as they exist.
func (db *Postgres) Close() error {
	var err error
	if db.name != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = pgserver.DropDatabase(ctx, db.admin, db.name)
	}
	if db.server != nil {
		if serr := db.server.Remove(); serr != nil && err == nil {
			err = serr
		}
	}
	return err
}
