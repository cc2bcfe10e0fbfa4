package main

import (
	"context"
	"errors"

	"github.com/polyjobs/polyjobs/server/store"
)

// openPostgres opens a PostgreSQL store.
func openPostgres(ctx context.Context, dsn string) (store.Store, error) {
	return nil, errors.New("PostgreSQL is not supported by this build yet")
}
