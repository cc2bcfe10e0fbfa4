package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// BenchmarkJob measures the lookup every poll of a running job makes.
func BenchmarkJob(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	org, _ := s.CreateOrganization(ctx, "acme")
	job, _ := s.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
	if _, err := s.Transition(ctx, job.ID, store.Start()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Job(ctx, org.ID, job.ID); err != nil {
			b.Fatal(err)
		}
	}
}
