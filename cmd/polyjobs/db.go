package main

import (
	"context"
	"strings"

	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// defaultDB is the database used when neither --db nor POLYJOBS_DB is set.
const defaultDB = "polyjobs.db"

// dbUsage documents the --db flag.
const dbUsage = "database: a SQLite file path, or a postgres:// URL (env POLYJOBS_DB)"

// openStore opens the store named by dsn: a postgres:// or postgresql:// URL
// selects PostgreSQL, anything else is a SQLite file path.
func openStore(ctx context.Context, dsn string) (store.Store, error) {
	if isPostgres(dsn) {
		return openPostgres(ctx, dsn)
	}
	return sqlite.Open(ctx, dsn)
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}
