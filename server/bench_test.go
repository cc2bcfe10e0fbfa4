package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/polyjobs/polyjobs/generated/api"
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
		{"done/bearer", []store.Transition{store.Start(), store.Finish([]byte(results[api.JobTypeExportLogs]))}, tenant.bearer},
		{"done/basic", []store.Transition{store.Finish([]byte(results[api.JobTypeExportLogs]))}, tenant.basic},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			en := newBenchEnv(b)
			acme := en.tenant("acme")
			job := en.job(acme.org.ID, api.JobTypeExportLogs, bc.steps...)
			req := httptest.NewRequest(http.MethodGet, jobPath(job.Type, job.ID), nil)
			req.Header.Set("Authorization", bc.auth(acme))
			req.Header.Set("X-Polytomic-Version", "2024-02-08")
			w := &benchWriter{header: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w.reset()
				en.e.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

// newBenchEnv is an env on a SQLite store with the access log discarded (as
// serve writes it, NewLogger) and a rate limit that is checked but never
// reached.
func newBenchEnv(b *testing.B) *env {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	logger, err := server.NewLogger(io.Discard, "json", slog.LevelInfo)
	if err != nil {
		b.Fatal(err)
	}
	en := newEnv(b, s, func(c *server.Config) {
		c.Logger = logger
		c.Rate = 1e9 // the limiter stays in the path but never refuses
	})
	return en
}

// benchWriter is a reusable ResponseWriter, so the benchmark counts the
// handler chain's allocations rather than a recorder's.
type benchWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *benchWriter) Header() http.Header  { return w.header }
func (w *benchWriter) WriteHeader(code int) { w.code = code }
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}
func (w *benchWriter) reset() { clear(w.header); w.code, w.n = 0, 0 }
