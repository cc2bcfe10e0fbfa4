package main

import (
	"context"

	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/postgres"
)

// openPostgres opens a PostgreSQL store, applying migrations under an
// advisory lock so that replicas starting together are safe.
func openPostgres(ctx context.Context, dsn string) (store.Store, error) {
	return postgres.Open(ctx, dsn)
}
