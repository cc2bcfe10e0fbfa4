package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/polyjobs/polyjobs/generated"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// BenchmarkGetJob measures the full handler chain through e.ServeHTTP:
// request id, access log, recover, headers, body limit, validation with
// authentication, the strict handler and the store lookup.
func BenchmarkGetJob(b *testing.B) {
	cases := []struct {
		name  string
		steps []store.Transition
		auth  func(tenant) string
	}{
		{"running/bearer", []store.Transition{store.Start()}, tenant.bearer},
		{"done/bearer", []store.Transition{store.Start(), store.Finish([]byte(results[generated.JobTypeExportLogs]))}, tenant.bearer},
		{"done/basic", []store.Transition{store.Finish([]byte(results[generated.JobTypeExportLogs]))}, tenant.basic},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			en := newBenchEnv(b)
			acme := en.tenant("acme")
			job := en.job(acme.org.ID, generated.JobTypeExportLogs, bc.steps...)
			req := httptest.NewRequest(http.MethodGet, jobPath(job.Type, job.ID), nil)
			req.Header.Set("Authorization", bc.auth(acme))
			req.Header.Set("X-Polytomic-Version", "2024-02-08")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rec := httptest.NewRecorder()
				en.e.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// newBenchEnv is an env on a SQLite store with the access log discarded.
func newBenchEnv(b *testing.B) *env {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	en := newEnv(b, s, func(c *server.Config) { c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil)) })
	return en
}
