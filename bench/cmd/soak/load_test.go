//go:build linux

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/bench/internal/harness"
)

// fakeServer answers like polyjobs for the jobs of p, or with status when it
// is not 200.
func fakeServer(t *testing.T, p *pool, status int) string {
	t.Helper()
	byPath := map[string]*job{}
	for _, j := range p.all() {
		byPath[j.path] = j
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j := byPath[r.URL.Path]
		if r.Header.Get("Authorization") != "Bearer k" || j == nil {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		if status != http.StatusOK {
			http.Error(w, "slow down", status)
			return
		}
		rank := j.committed.Load()
		for k, v := range headersFor(rank) {
			w.Header()[k] = v
		}
		w.Write(j.body(rank))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func testPool() *pool {
	return newPool([]*job{
		newJob(uuid.New(), "exportlogs", false, rankCreated),
		newJob(uuid.New(), "createmodel", false, rankRunning),
		newJob(uuid.New(), "samplemodel", false, rankTerminal),
		newJob(uuid.New(), "previewmodel", true, rankTerminal),
	})
}

func TestOpenLoopKeepsTheRate(t *testing.T) {
	p := testPool()
	addr := fakeServer(t, p, http.StatusOK)
	tl := newTimeline(time.Now().Add(20*time.Millisecond), 200*time.Millisecond, time.Second, 500*time.Millisecond)
	errs := &tally{}
	g := newGenerator(addr, "k", p, tl, errs, 2*time.Second)
	g.run(context.Background(), 4, schedule{origin: tl.origin, rate: 400})
	if n := errs.total(); n != 0 {
		_, samples := errs.snapshot()
		t.Fatalf("%d errors: %v", n, samples)
	}
	// 400 req/s: 80 in the lead-in, 400 measured, 200 per window.
	if got := tl.total().attempts(); got < 350 || got > 400 {
		t.Errorf("%d requests measured, want about 400", got)
	}
	for i, w := range tl.windows {
		if got := w.attempts(); got < 170 || got > 200 {
			t.Errorf("window %d: %d requests, want about 200", i, got)
		}
	}
	if got := tl.warm.attempts(); got < 70 || got > 80 {
		t.Errorf("lead-in: %d requests, want 80", got)
	}
	if g.validated.Load() < 40 {
		t.Errorf("%d responses validated, want one in %d", g.validated.Load(), validateEvery)
	}
	// Each connection sends every 10 ms: it is done after its last slot.
	if time.Now().Before(tl.end.Add(-10 * time.Millisecond)) {
		t.Error("run returned before the end of the timeline")
	}
}

func TestClosedLoopCountsEveryNon200(t *testing.T) {
	p := testPool()
	addr := fakeServer(t, p, http.StatusTooManyRequests)
	tl := newTimeline(time.Now(), 0, 100*time.Millisecond, 100*time.Millisecond)
	errs := &tally{}
	newGenerator(addr, "k", p, tl, errs, time.Second).run(context.Background(), 2, schedule{})
	kinds, samples := errs.snapshot()
	if kinds["HTTP 429"] == 0 || len(kinds) != 1 || tl.total().ok.Load() != 0 {
		t.Fatalf("kinds %v, %d ok; want only 429s", kinds, tl.total().ok.Load())
	}
	if tl.total().errs.Load() != kinds["HTTP 429"] {
		t.Errorf("window errors %d, tally %d", tl.total().errs.Load(), kinds["HTTP 429"])
	}
	if !strings.Contains(samples[0], "slow down") {
		t.Errorf("sample %q lacks the body", samples[0])
	}
}

func TestSocketErrorsAreCounted(t *testing.T) {
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	tl := newTimeline(time.Now(), 0, 50*time.Millisecond, 50*time.Millisecond)
	errs := &tally{}
	newGenerator("127.0.0.1:"+strconv.Itoa(ports[0]), "k", testPool(), tl, errs, time.Second).run(context.Background(), 1, schedule{})
	kinds, _ := errs.snapshot()
	// A refused connection backs off: a handful of attempts, not thousands.
	if n := kinds["connect"]; n == 0 || n > 10 {
		t.Fatalf("connect errors: %v; want a few", kinds)
	}
}

func TestRunStopsWithTheContext(t *testing.T) {
	p := testPool()
	addr := fakeServer(t, p, http.StatusOK)
	tl := newTimeline(time.Now(), 0, time.Hour, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	newGenerator(addr, "k", p, tl, &tally{}, time.Second).run(ctx, 2, schedule{origin: tl.origin, rate: 10})
	if time.Since(start) > 5*time.Second {
		t.Fatal("the generator ignored its context")
	}
}
