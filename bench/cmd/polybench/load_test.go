//go:build linux

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/proctest"
)

// fakeServer answers like polyjobs for the jobs of p, or with status when it
// is not 200, and returns its host:port.
func fakeServer(t *testing.T, p *pool, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := slices.IndexFunc(p.all(), func(j *job) bool { return j.path == r.URL.Path })
		if r.Header.Get("Authorization") != "Bearer k" || i < 0 || status != http.StatusOK {
			http.Error(w, "slow down", max(status, http.StatusNotFound))
			return
		}
		j := p.all()[i]
		rank := j.committed.Load()
		for k, v := range headersFor(rank) {
			w.Header()[k] = v
		}
		w.Write(j.fixture(rank).AppendBody(nil))
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

func TestGenerator(t *testing.T) {
	p := testPool()
	closed, _ := proctest.FreePorts(1)
	for _, tc := range []struct {
		name      string
		addr      string
		lead, run time.Duration
		rate      float64 // 0: closed loop
		check     func(t *testing.T, tl *timeline, g *generator, kinds map[string]int64)
	}{
		{"open loop keeps the rate", fakeServer(t, p, http.StatusOK), 200 * time.Millisecond, time.Second, 400,
			func(t *testing.T, tl *timeline, g *generator, kinds map[string]int64) {
				// 400 req/s: 80 in the lead-in, 400 measured, 200 per window.
				if len(kinds) != 0 || tl.warm.attempts() < 70 || tl.total().attempts() < 350 || tl.total().attempts() > 400 ||
					tl.windows[0].attempts() < 170 || g.validated.Load() < 40 {
					t.Fatalf("errors %v, %d lead-in, %d measured (%d in the first half), %d validated", kinds,
						tl.warm.attempts(), tl.total().attempts(), tl.windows[0].attempts(), g.validated.Load())
				}
			}},
		{"closed loop counts every non-200", fakeServer(t, p, http.StatusTooManyRequests), 0, 100 * time.Millisecond, 0,
			func(t *testing.T, tl *timeline, g *generator, kinds map[string]int64) {
				if kinds["HTTP 429"] == 0 || len(kinds) != 1 || tl.total().ok.Load() != 0 || tl.total().errs.Load() != kinds["HTTP 429"] {
					t.Fatalf("kinds %v, %d ok; want only 429s", kinds, tl.total().ok.Load())
				}
			}},
		{"a refused connection backs off", closed[0], 0, 50 * time.Millisecond, 0,
			func(t *testing.T, tl *timeline, g *generator, kinds map[string]int64) {
				if n := kinds["connect"]; n == 0 || n > 30 { // 4 connections, a dial every 10 ms at most
					t.Fatalf("connect errors: %v; want a few, not thousands", kinds)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTimeline(tc.lead, tc.run, tc.run/2)
			g := newGenerator(tc.addr, "k", p, tl, &tally{}, time.Second, validateEvery)
			g.run(context.Background(), 4, schedule{origin: tl.origin, rate: tc.rate})
			if time.Now().Before(tl.end.Add(-20 * time.Millisecond)) {
				t.Error("run returned before the end of the timeline")
			}
			tc.check(t, tl, g, g.errs.snapshot().ErrorKinds)
		})
	}
}

func TestSeedAndWriter(t *testing.T) {
	ctx := context.Background()
	types := len(api.JobTypeValues())
	n := types * len(soakMix) // every type once in every status
	tn, err := seed(ctx, filepath.Join(t.TempDir(), "soak.db"), n, soakMix)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.st.Close()
	p := newPool(tn.jobs)
	if m := p.mix(); m["created"] != types || m["running"] != types || m["done"] != types || m["failed"] != types {
		t.Fatalf("seeded mix %v, want %d of each", m, types)
	}
	seen := map[string]bool{}
	for _, j := range p.all() {
		seen[j.typ+" "+j.status(j.committed.Load())] = true
	}
	if len(seen) != n {
		t.Fatalf("seeded %d of the %d pairs of type and status: %v", len(seen), n, seen)
	}
	w := newWriter(tn, p)
	for range 30 {
		w.step(ctx)
	}
	if f := w.errs.snapshot(); f.Errors != 0 {
		t.Fatalf("writer errors: %v", f.ErrorSamples)
	}
	// 30 jobs created; a job moves on once lifecycleDepth younger ones share its status.
	if w.creates != 30 || len(w.every) != n+30 || len(w.queues[rankCreated]) != lifecycleDepth || len(w.queues[rankRunning]) != lifecycleDepth {
		t.Fatalf("creates %d, jobs %d, queues %d and %d", w.creates, len(w.every), len(w.queues[rankCreated]), len(w.queues[rankRunning]))
	}
	// The pool keeps its size: one job withdrawn, the one that ended first, per job created.
	if len(p.all()) != n || w.retired != 30 || slices.Contains(p.all(), tn.jobs[2]) || w.fails == 0 || w.finishes == 0 {
		t.Fatalf("pool %d, %d withdrawn, %d done, %d failed", len(p.all()), w.retired, w.finishes, w.fails)
	}
	for _, j := range w.every {
		sj, err := tn.st.JobByID(ctx, j.id)
		if err != nil || string(sj.Status) != j.status(j.committed.Load()) || j.begun.Load() != j.committed.Load() {
			t.Fatalf("job %s: stored %s (%v), published %s", j.id, sj.Status, err, j.status(j.committed.Load()))
		}
	}
	// The key authenticates: the fixture carries it.
	if fx := p.fixture(tn.key); !strings.HasPrefix(fx.Key, "pju_") || len(fx.Jobs) != n {
		t.Fatalf("fixture key %q, %d jobs", fx.Key, len(fx.Jobs))
	}
}

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		list string
		want []int // nil: not a list
	}{
		{"1", []int{1}},
		{"0,2", []int{0, 2}},
		{"2-3", []int{2, 3}},
		{"0,2-4,7", []int{0, 2, 3, 4, 7}},
		{"", nil},
		{"a", nil},
		{"1,", nil},
		{"3-2", nil},
		{"-1", nil},
		{"1-", nil},
		{"100000", nil},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			var set unix.CPUSet
			err := parseCPUList(tt.list, &set)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("parseCPUList(%q) accepted it", tt.list)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cpusOf(&set); !slices.Equal(got, tt.want) {
				t.Fatalf("parseCPUList(%q) = %v, want %v", tt.list, got, tt.want)
			}
		})
	}
}

// TestPinProcess pins the test binary's every thread, running and parked, to
// one of its CPUs, and then back to them all.
func TestPinProcess(t *testing.T) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	cpus := cpusOf(&allowed)
	names := make([]string, len(cpus))
	for i, cpu := range cpus {
		names[i] = strconv.Itoa(cpu)
	}
	all := strings.Join(names, ",")
	t.Cleanup(func() {
		if err := pinProcess(all); err != nil {
			t.Errorf("back to CPUs %s: %v", all, err)
		}
	})
	// Threads that end while the process is pinned: a goroutine that exits
	// locked to its thread ends the thread.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			done := make(chan struct{})
			go func() {
				runtime.LockOSThread()
				close(done)
			}()
			<-done
		}
	}()
	one := cpus[len(cpus)-1]
	if err := pinProcess(strconv.Itoa(one)); err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil {
			continue // the thread has exited
		}
		if got := cpusOf(&set); !slices.Equal(got, []int{one}) {
			t.Errorf("thread %d runs on CPUs %v, want [%d]", tid, got, one)
		}
	}
}

// cpusOf lists the CPUs of set.
func cpusOf(set *unix.CPUSet) []int {
	var cpus []int
	for cpu := range len(set) * 64 {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus
}
