package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/store"
)

// TestFastPathsAnswerLikePlain sends every combination of path, version
// header and credentials to a server that has just seen the same path and
// version pass validation (so its parameter memo may answer), and to a plain
// server (Config.Plain: echo-middleware's validation, no caches): the answers
// must be the same.
func TestFastPathsAnswerLikePlain(t *testing.T) {
	s := storeFactories["sqlite"](t)
	metrics := server.NewMetrics()
	cfg := server.Config{Store: s, Rate: -1, AuthFailureRate: -1, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: metrics}
	en := newEnv(t, s, func(c *server.Config) { *c = cfg })
	acme, globex, gone := en.tenant("acme"), en.tenant("globex"), en.tenant("gone")
	job := en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())
	globexJob := en.job(globex.org.ID, api.JobTypeExportLogs)
	if err := s.RevokeKey(context.Background(), gone.userID); err != nil {
		t.Fatal(err)
	}
	path := jobPath(job.Type, job.ID)
	targets := []string{
		path,
		"/api/jobs/exportlogs/" + strings.ToUpper(job.ID.String()),
		"/api/jobs/export%6cogs/" + job.ID.String(),
		path + "?verbose=1",
		jobPath(api.JobTypeCreateModel, job.ID),
		jobPath(job.Type, uuid.New()),
		jobPath(globexJob.Type, globexJob.ID),
		"/api/jobs/exportlogs/not-a-uuid",
		"/api/jobs/deletemodel/" + job.ID.String(),
	}
	versions := []string{"", "2024-02-08", "1999-01-01"}
	auths := map[string]string{
		"bearer": acme.bearer(), "basic": acme.basic(), "none": "", "garbage": "Bearer garbage",
		"other organization": globex.bearer(), "revoked": gone.bearer(), "org key as bearer": "Bearer " + acme.orgKey,
	}
	request := func(target, version, auth string) *http.Request {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		if version != "" {
			req.Header.Set("X-Polytomic-Version", version)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return req
	}
	plainCfg := cfg
	plainCfg.Metrics, plainCfg.Plain = nil, true
	plain, err := server.New(plainCfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range targets {
		for _, version := range versions {
			for name, auth := range auths {
				// Prime the memo with valid credentials, then ask with these.
				en.do(request(target, version, acme.bearer()))
				got := en.do(request(target, version, auth))
				rec := httptest.NewRecorder()
				plain.ServeHTTP(rec, request(target, version, auth))
				if got.status != rec.Code || !bytes.Equal(got.body, rec.Body.Bytes()) {
					t.Errorf("%s %s, %s: after priming %d %s; plain %d %s",
						target, version, name, got.status, got.body, rec.Code, rec.Body.Bytes())
				}
				for _, h := range []string{"WWW-Authenticate", "Retry-After", "X-Polytomic-Version", "Content-Type"} {
					if got.header.Get(h) != rec.Header().Get(h) {
						t.Errorf("%s %s, %s: %s %q after priming, %q plain", target, version, name, h, got.header.Get(h), rec.Header().Get(h))
					}
				}
			}
		}
	}
	// The primed server did answer from its memo (else this test proves nothing).
	if hits := counterValue(t, metrics, "polyjobs_validation_memo_hits_total"); hits < float64(len(auths)) {
		t.Fatalf("%v memo hits, want at least %d", hits, len(auths))
	}
}

// counterValue returns the value of the counter called name in m.
// For a histogram it is the number of observations; for a metric with
// labels, the sum over all of them.
func counterValue(t *testing.T, m *server.Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		var sum float64
		for _, metric := range f.GetMetric() {
			if h := metric.GetHistogram(); h != nil {
				sum += float64(h.GetSampleCount())
			} else {
				sum += metric.GetCounter().GetValue()
			}
		}
		return sum
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// gaugeValue returns the value of the gauge called name in m.
func gaugeValue(t *testing.T, m *server.Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
