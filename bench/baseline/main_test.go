package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

func TestGetJob(t *testing.T) {
	done := fixture.Job{ID: uuid.New(), Type: "exportlogs", Status: "done", Result: json.RawMessage(`{"url":"https://x"}`)}
	running := fixture.Job{ID: uuid.New(), Type: "createmodel", Status: "running"}
	h := newHandler(&fixture.Fixture{Key: "pju_secret", Jobs: []fixture.Job{done, running}})
	const key = "Bearer pju_secret"
	for _, tc := range []struct {
		name, path, auth, version string
		want                      int
		body                      string // for 200s
		wantVersion, retryAfter   string
	}{
		{"done job", done.Path(), key, "2024-02-08", 200, string(done.AppendBody(nil)), "2024-02-08", ""},
		{"running job", running.Path(), key, "", 200, string(running.AppendBody(nil)), fixture.Version, retryAfter},
		{"no key", done.Path(), "", "", 401, "", "", ""},
		{"wrong key", done.Path(), "Bearer pju_other", "", 401, "", "", ""},
		{"unknown type", "/api/jobs/nope/" + done.ID.String(), key, "", 400, "", "", ""},
		{"malformed id", "/api/jobs/exportlogs/123", key, "", 400, "", "", ""},
		{"braced id", "/api/jobs/exportlogs/{" + done.ID.String() + "}", key, "", 400, "", "", ""},
		{"unknown version", done.Path(), key, "2020-01-01", 400, "", "", ""},
		{"unknown job", "/api/jobs/exportlogs/" + uuid.NewString(), key, "", 404, "", "", ""},
		{"wrong type", "/api/jobs/samplemodel/" + done.ID.String(), key, "", 404, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.version != "" {
				req.Header.Set("X-Polytomic-Version", tc.version)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
			hd := rec.Header()
			if tc.want == 200 && (rec.Body.String() != tc.body || hd.Get("Content-Type") != "application/json" ||
				hd.Get("X-Polytomic-Version") != tc.wantVersion || hd.Get("Retry-After") != tc.retryAfter) {
				t.Fatalf("200 with headers %v and body %s", hd, rec.Body)
			}
		})
	}
}
