package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

func TestPercentileUS(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	if p50, p99 := percentileUS(lat, 50), percentileUS(lat, 99); p50 != 50 || p99 != 99 {
		t.Fatalf("p50 %v, p99 %v; want 50, 99", p50, p99)
	}
	if percentileUS(nil, 50) != 0 {
		t.Fatal("percentile of nothing")
	}
}

// TestRun loads a server that refuses one job in two and checks the counts.
func TestRun(t *testing.T) {
	fx := &fixture.Fixture{Key: "pju_k", Jobs: []fixture.Job{
		{ID: uuid.New(), Type: "exportlogs", Status: "running"},
		{ID: uuid.New(), Type: "exportlogs", Status: "created"},
	}}
	path := filepath.Join(t.TempDir(), "fx.json")
	if err := fx.Save(path); err != nil {
		t.Fatal(err)
	}
	var badAuth atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pju_k" || r.Header.Get("X-Polytomic-Version") != fixture.NewestVersion {
			badAuth.Add(1)
		}
		if r.URL.Path == fx.Jobs[1].Path() {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		w.Write([]byte("{}"))
	}))
	defer srv.Close()

	var out strings.Builder
	if err := run(&out, srv.URL, path, 4, 300*time.Millisecond, time.Second); err != nil {
		t.Fatal(err)
	}
	line, ok := strings.CutPrefix(strings.TrimSpace(out.String()), "LOADBENCH_RESULT ")
	if !ok {
		t.Fatalf("output %q", out.String())
	}
	var s summary
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		t.Fatal(err)
	}
	if s.Requests < 10 || s.Status < s.Requests/2-4 || s.Status > s.Requests/2+4 || s.Connect+s.Read+s.Write+s.Timeout != 0 {
		t.Fatalf("summary %+v: want about half the requests counted as errors, no socket errors", s)
	}
	if badAuth.Load() != 0 {
		t.Fatalf("%d requests without the key or the version", badAuth.Load())
	}
}
