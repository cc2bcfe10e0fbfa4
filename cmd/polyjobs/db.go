package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/database"
)

// defaultDB is the database used when neither --db nor POLYJOBS_DB is set.
const defaultDB = "polyjobs.db"

// dbFlag declares the --db flag of serve and admin.
func dbFlag(p *string) flagSpec {
	return flagSpec{name: "db", env: "POLYJOBS_DB", value: stringFlag(p, defaultDB),
		usage: "database: a SQLite file path, or a postgres:// URL"}
}

// openNoticeEvery is how long serve waits for the database before saying it
// still waits, and how often it says it again.
var openNoticeEvery = 5 * time.Second

// openStoreNoticed is openStore for serve: while the database does not
// answer, or another replica holds the PostgreSQL migration lock, it logs a
// warning every openNoticeEvery, so that a replica that waits is seen to
// wait. It waits until ctx ends (SIGINT or SIGTERM).
func openStoreNoticed(ctx context.Context, dsn string, logger *slog.Logger) (store.Store, error) {
	done := make(chan struct{})
	stopped := make(chan struct{})
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
				logger.Warn("still opening the database: it does not answer, or another replica holds the migration lock",
					slog.Duration("waited", time.Since(start).Round(time.Millisecond)))
			}
		}
	}()
	s, err := database.Open(ctx, dsn)
	close(done)
	<-stopped
	return s, err
}
