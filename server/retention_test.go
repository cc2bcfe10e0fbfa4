package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/pgserver"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/postgres"
)

func TestPurgerDeletesOnlyExpiredTerminalJobs(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(*testing.T) store.Store) {
		ctx := context.Background()
		s := newStore(t)
		defer s.Close()
		org, _ := s.CreateOrganization(ctx, "acme")
		done, _ := s.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
		running, _ := s.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
		s.Transition(ctx, done.ID, store.Finish(nil))
		s.Transition(ctx, running.ID, store.Start())

		p := &server.Purger{Store: s, Retention: time.Hour, Interval: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if n, err := p.PurgeOnce(ctx); err != nil || n != 0 {
			t.Fatalf("PurgeOnce with 1h retention = %d, %v; want 0", n, err)
		}
		p.Retention = -time.Second // everything terminal is now expired
		if n, err := p.PurgeOnce(ctx); err != nil || n != 1 {
			t.Fatalf("PurgeOnce = %d, %v; want 1", n, err)
		}
		if _, err := s.Job(ctx, org.ID, done.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("purged job: %v", err)
		}
		if _, err := s.Job(ctx, org.ID, running.ID); err != nil {
			t.Fatalf("running job purged: %v", err)
		}
	})
}

// TestPurgeRunsInOneReplicaAtATime holds the purge lock as one replica would
// while it purges: another replica's round does nothing, then works once the
// lock is free.
func TestPurgeRunsInOneReplicaAtATime(t *testing.T) {
	ctx := context.Background()
	dsn := pgserver.DSN(t)
	a, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	org, _ := a.CreateOrganization(ctx, "acme")
	job, _ := a.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
	a.Transition(ctx, job.ID, store.Finish(nil))

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pb := &server.Purger{Store: b, Retention: -time.Second, Interval: time.Hour, Logger: logger}
	ran, err := a.TryExclusive(ctx, "purge", func(ctx context.Context) error {
		n, err := pb.PurgeOnce(ctx)
		if err != nil || n != 0 {
			t.Errorf("PurgeOnce while another replica purges = %d, %v; want 0", n, err)
		}
		if _, err := b.Job(ctx, org.ID, job.ID); err != nil {
			t.Errorf("job purged by the replica without the lock: %v", err)
		}
		return nil
	})
	if !ran || err != nil {
		t.Fatalf("TryExclusive = %v, %v", ran, err)
	}
	if n, err := pb.PurgeOnce(ctx); err != nil || n != 1 {
		t.Fatalf("PurgeOnce after the lock is free = %d, %v; want 1", n, err)
	}
}
