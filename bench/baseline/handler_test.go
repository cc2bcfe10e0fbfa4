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
	get := func(path, auth, version string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if version != "" {
			req.Header.Set("X-Polytomic-Version", version)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	const key = "Bearer pju_secret"

	rec := get(done.Path(), key, "2024-02-08")
	if rec.Code != 200 || rec.Body.String() != string(fixture.AppendBody(nil, done)) {
		t.Fatalf("done job: %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("X-Polytomic-Version") != "2024-02-08" ||
		rec.Header().Get("Retry-After") != "" {
		t.Fatalf("done job headers: %v", rec.Header())
	}
	rec = get(running.Path(), key, "")
	if rec.Code != 200 || rec.Header().Get("Retry-After") != retryAfter || rec.Header().Get("X-Polytomic-Version") != fixture.NewestVersion {
		t.Fatalf("running job: %d %v", rec.Code, rec.Header())
	}

	for _, tc := range []struct {
		name, path, auth, version string
		want                      int
	}{
		{"no key", done.Path(), "", "", 401},
		{"wrong key", done.Path(), "Bearer pju_other", "", 401},
		{"unknown type", "/api/jobs/nope/" + done.ID.String(), key, "", 400},
		{"malformed id", "/api/jobs/exportlogs/123", key, "", 400},
		{"braced id", "/api/jobs/exportlogs/{" + done.ID.String() + "}", key, "", 400},
		{"unknown version", done.Path(), key, "2020-01-01", 400},
		{"unknown job", "/api/jobs/exportlogs/" + uuid.NewString(), key, "", 404},
		{"wrong type", "/api/jobs/samplemodel/" + done.ID.String(), key, "", 404},
	} {
		if rec := get(tc.path, tc.auth, tc.version); rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
}
