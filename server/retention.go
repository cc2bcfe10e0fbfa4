package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/polyjobs/polyjobs/server/store"
)

// DefaultRetention is how long terminal jobs are kept before they are purged.
const DefaultRetention = 30 * 24 * time.Hour

// Purger deletes terminal jobs older than Retention, every Interval. A purged
// job answers 404, like one that never existed.
type Purger struct {
	Store     store.Store
	Retention time.Duration
	Interval  time.Duration
	Logger    *slog.Logger
}

// Run purges once at start and then every Interval until ctx ends.
func (p *Purger) Run(ctx context.Context) {
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		n, err := p.PurgeOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			p.Logger.Warn("purging expired jobs failed", slog.String("error", err.Error()))
		case n > 0:
			p.Logger.Info("purged expired jobs", slog.Int64("jobs", n), slog.Duration("retention", p.Retention))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PurgeOnce deletes the terminal jobs that finished more than Retention ago.
// On a store shared by replicas only one replica purges at a time; the others
// skip the round and report 0.
func (p *Purger) PurgeOnce(ctx context.Context) (int64, error) {
	purge := func(ctx context.Context) (int64, error) {
		return p.Store.PurgeJobs(ctx, time.Now().Add(-p.Retention))
	}
	ex, ok := p.Store.(store.Exclusive)
	if !ok {
		return purge(ctx)
	}
	var n int64
	_, err := ex.TryExclusive(ctx, "purge", func(ctx context.Context) (err error) {
		n, err = purge(ctx)
		return err
	})
	return n, err
}
