//go:build linux

package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestCheckHeld(t *testing.T) {
	j := newJob(uuid.New(), "exportlogs", false, rankRunning)
	const etag, applied = `"0123456789abcdef"`, "wait=20"
	notModified := func(edit func(http.Header)) http.Header {
		h := headersFor(rankRunning)
		h.Del("Content-Type")
		h.Set("ETag", etag)
		h.Set("Preference-Applied", applied)
		h.Set("X-Request-Id", "r1")
		if edit != nil {
			edit(h)
		}
		return h
	}
	done := headersFor(rankTerminal)
	done.Set("ETag", `"fedcba9876543210"`)
	done.Set("X-Request-Id", "r2")
	doneBody := j.fixture(rankTerminal).AppendBody(nil)
	for _, tc := range []struct {
		name     string
		status   int
		h        http.Header
		body     []byte
		min, max int32 // the job's committed and begun ranks
		want     string
	}{
		{"held, unchanged", 304, notModified(nil), nil, rankRunning, rankRunning, ""},
		{"not held (a cap)", 304, notModified(func(h http.Header) { h.Del("Preference-Applied") }), nil, rankRunning, rankRunning, "not held"},
		{"another tag", 304, notModified(func(h http.Header) { h.Set("ETag", `"x"`) }), nil, rankRunning, rankRunning, "304 with ETag"},
		{"no Retry-After", 304, notModified(func(h http.Header) { h.Del("Retry-After") }), nil, rankRunning, rankRunning, "Retry-After"},
		{"no request id", 304, notModified(func(h http.Header) { h.Del("X-Request-Id") }), nil, rankRunning, rankRunning, "X-Request-Id"},
		{"a body", 304, notModified(nil), []byte("{}"), rankRunning, rankRunning, "with a body"},
		{"woken by the move", 200, done, doneBody, rankRunning, rankTerminal, ""},
		{"a 200 under the tag sent", 200, notModified(nil), j.fixture(rankRunning).AppendBody(nil), rankRunning, rankRunning, "not honoured"},
		{"the end, never begun", 200, done, doneBody, rankRunning, rankRunning, "not begun"},
		{"an error", 429, notModified(nil), []byte(`{"status":429}`), rankRunning, rankRunning, "429"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHeld(j, tc.status, tc.h, tc.body, etag, applied, tc.min, tc.max)
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("checkHeld: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestMetricValue(t *testing.T) {
	text := []byte(`# HELP polyjobs_waiters Requests held now.
# TYPE polyjobs_waiters gauge
polyjobs_waiters_total 3
polyjobs_waiter_wakes_total{cause="changed"} 7
polyjobs_waiters 1e+04
`)
	for _, tc := range []struct {
		name string
		want float64
		ok   bool
	}{{"polyjobs_waiters", 10_000, true}, {"polyjobs_waiters_total", 3, true}, {"polyjobs_waiter_wakes_total", 0, false}, {"nope", 0, false}} {
		if v, ok := metricValue(text, tc.name); v != tc.want || ok != tc.ok {
			t.Errorf("%s = %v, %v; want %v, %v", tc.name, v, ok, tc.want, tc.ok)
		}
	}
}

func TestOrdinaryFor(t *testing.T) {
	for _, tc := range []struct{ d, wait, want time.Duration }{
		{10 * time.Second, 20 * time.Second, 24 * time.Second}, // 20 s + 1.25 s of jitter + 2 s, rounded up
		{30 * time.Second, 20 * time.Second, 30 * time.Second},
		{2 * time.Second, 16 * time.Second, 19 * time.Second},
	} {
		if got := ordinaryFor(tc.d, tc.wait); got != tc.want {
			t.Errorf("ordinaryFor(%v, %v) = %v, want %v", tc.d, tc.wait, got, tc.want)
		}
	}
}

func TestWaitersOptions(t *testing.T) {
	for _, tc := range []struct {
		o    waitersOptions
		want string
	}{
		{waitersOptions{waiters: 10_000, moves: 1000, crossMoves: 100, wait: 20 * time.Second}, ""},
		{waitersOptions{}, ""}, // skipped
		{waitersOptions{waiters: 10, moves: 8, crossMoves: 3, wait: time.Second}, "exceed"},
		{waitersOptions{waiters: 10, wait: 1500 * time.Millisecond}, "whole number"},
		{waitersOptions{waiters: -1}, "negative"},
	} {
		if err := tc.o.validate(); (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.o, err, tc.want)
		}
	}
}

func TestAwaitWakes(t *testing.T) {
	g := &wakeGroup{}
	var ws []*heldWaiter
	for i := range 100 {
		w := &heldWaiter{j: newJob(uuid.New(), "exportlogs", false, rankRunning)}
		ws = append(ws, w)
		if i < 99 {
			g.woke(w, time.Duration(i+1)*time.Millisecond) // 1 ms to 99 ms
		}
	}
	errs := &tally{}
	s := awaitWakes(g, ws, time.Second, 300*time.Millisecond, errs)
	f := errs.snapshot()
	// The histogram's buckets are at most 1 % wide, and a quantile is its bucket's top.
	near := func(got, want float64) bool { return got >= want && got <= 1.01*want }
	// The waiter never woken counts as 300 ms: it is the maximum, and p99 is 99 ms.
	if s.Jobs != 100 || s.Woken != 99 || s.SendS != 1 || !near(s.P50MS, 50) || !near(s.P95MS, 95) || !near(s.P99MS, 99) || s.MaxMS != 300 ||
		f.Errors != 1 || f.ErrorKinds["not woken"] != 1 {
		t.Fatalf("%+v; errors %s", s, kindsString(f.ErrorKinds))
	}
	g.woke(ws[99], time.Millisecond) // too late: not recorded
	if ws[99].woken.Load() || g.hist.count() != 100 {
		t.Fatal("a wake-up after the deadline was recorded")
	}
}

// testWaiterResults returns waiters' figures that meet every target but the
// ordinary rate (0.75 × without).
func testWaiterResults() *waiterResults {
	return &waiterResults{Waiters: 10_000, OrdinaryJobs: 100, WaitS: 20, ServeFlags: []string{"--control"}, OpenFiles: 20_000,
		ClientCPU: "1", MoveConns: moveConns, CrossEveryMS: 20, WakeTimeoutS: 5, HoldS: 2.5, Requests: 31_000, NotModified: 20_000,
		RSSHeldBytes: 150 << 20, StackHeldBytes: 40 << 20, HeapHeldBytes: 60 << 20, PeakRSSBytes: 250 << 20, OrdinaryS: 24,
		Without: loadResult{RPS: 20_000, P99MS: 4}, With: loadResult{RPS: 15_000, P99MS: 9}, RateRatio: 0.75,
		Moves:      wakeStats{Jobs: 1000, Woken: 1000, SendS: 0.8, P50MS: 20, P95MS: 90, P99MS: 120, MaxMS: 140},
		CrossMoves: &wakeStats{Jobs: 100, Woken: 100, SendS: 2, P50MS: 60, P95MS: 110, P99MS: 120, MaxMS: 130}}
}

func TestWaitersReport(t *testing.T) {
	res := testLoadResults()
	res.Waiters = testWaiterResults()
	res.Targets, res.TargetsMet = nil, false
	res.Summary = nil
	res.finish()
	var got []string
	for _, c := range res.Waiters.Targets {
		got = append(got, c.ValueString()+" "+c.Verdict())
	}
	want := "250.0 MiB PASS; 0 errors PASS; 0.75× FAIL; 120.00 ms PASS; 130.00 ms PASS"
	if strings.Join(got, "; ") != want || res.TargetsMet || len(res.Targets) != 4 {
		t.Fatalf("waiters' targets %q (met %v, %d load targets)\nwant %q", got, res.TargetsMet, len(res.Targets), want)
	}
	for _, tc := range []struct {
		template string
		want     []string
	}{
		{"summary", []string{"| polyjobs-sqlite | 10000 | 0.70 |", "10000 requests held at once",
			"| RSS once all were held | 150.0 MiB (Go stacks 40.0 MiB, heap 60.0 MiB) |",
			"| control API, 4 at a time (sent in 0.80 s) | 1000 | 1000 | 20.00 ms | 90.00 ms | 120.00 ms | 140.00 ms |",
			"| polyjobs-sqlite | ordinary req/s with the waiters held ≥ 0.80 × without | 0.75× | **FAIL** |"}},
		{"BENCHMARKS.md", []string{"## Long-poll", "| another process (SQLite), one every 20 ms | 100 | 100 |",
			"`--control`", "hard\n  limit (20000)", "within the second"}},
	} {
		var b bytes.Buffer
		if err := render(&b, tc.template, res); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s lacks %q:\n%s", tc.template, w, b.String())
			}
		}
	}
	res.Waiters = nil
	var b bytes.Buffer
	if err := render(&b, "BENCHMARKS.md", res); err != nil || !strings.Contains(b.String(), "Not measured in this run (`-waiters 0`)") {
		t.Fatalf("without the waiters (%v):\n%s", err, b.String())
	}
}
