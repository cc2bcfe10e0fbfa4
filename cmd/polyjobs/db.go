package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/database"
	"github.com/polyjobs/polyjobs/server/store/postgres"
)

// defaultDB is the database used when neither --db nor POLYJOBS_DB is set.
const defaultDB = "polyjobs.db"

// dbFlag declares the --db flag of serve and admin.
func dbFlag(p *string) flagSpec {
	return flagSpec{name: "db", env: "POLYJOBS_DB", value: stringFlag(p, defaultDB),
		usage: "database: a SQLite file path, or a postgres:// URL"}
}

// openNoticeEvery is how long serve waits for the database before saying it
// still waits, and how often it says it again; openRetryEvery how often it
// tries again to reach a PostgreSQL server that is not there.
var (
	openNoticeEvery = 5 * time.Second
	openRetryEvery  = time.Second
)

// openStoreNoticed is database.Open for serve: a replica in an orchestrator
// may start before its database. While the PostgreSQL server cannot be
// reached it tries again every openRetryEvery, and while it waits for it, or
// for another replica's migration lock, it logs a warning every
// openNoticeEvery, so that a replica that waits is seen to wait. It waits
// until ctx ends (SIGINT or SIGTERM). A database that answers with an error
// (a wrong password, a missing database) is reported at once.
func openStoreNoticed(ctx context.Context, dsn string, logger *slog.Logger) (store.Store, error) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	var lastErr atomic.Value
	go func() {
		defer close(stopped)
		start := time.Now()
		t := time.NewTicker(openNoticeEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				attrs := []any{slog.Duration("waited", time.Since(start).Round(time.Millisecond))}
				if err, ok := lastErr.Load().(error); ok {
					attrs = append(attrs, slog.String("error", err.Error()))
				}
				logger.Warn("still opening the database: it does not answer, or another replica holds the migration lock", attrs...)
			}
		}
	}()
	defer func() { close(done); <-stopped }()
	for {
		s, err := database.Open(ctx, dsn)
		if err == nil || !postgres.Unreachable(err) || ctx.Err() != nil {
			return s, err
		}
		lastErr.Store(err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(openRetryEvery):
		}
	}
}
