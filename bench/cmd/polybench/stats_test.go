//go:build linux

package main

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistogram(t *testing.T) {
	t.Run("buckets", func(t *testing.T) {
		prev := int64(-1)
		for i := range histBuckets {
			up := bucketUpper(i)
			if up <= prev || bucketOf(uint64(up)) != i || bucketOf(uint64(prev+1)) != i {
				t.Fatalf("bucket %d: (%d, %d] is not a bucket of its own", i, prev, up)
			}
			if lo := prev + 1; lo >= 2*histSub && float64(up-lo+1)/float64(lo) > 1.0/histSub {
				t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, up, histSub)
			}
			prev = up
		}
		if bucketOf(1<<62) != histBuckets-1 {
			t.Fatal("a huge latency is not in the last bucket")
		}
	})
	t.Run("quantiles", func(t *testing.T) {
		var h histogram
		if h.quantile(0.99) != 0 || h.max() != 0 {
			t.Fatal("an empty histogram must report 0")
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var all []time.Duration
		for range 100_000 {
			d := time.Duration(rng.ExpFloat64() * float64(3*time.Millisecond))
			all = append(all, d.Truncate(time.Microsecond))
			h.record(d)
		}
		slices.Sort(all)
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
			exact, got := all[int(q*float64(len(all)))-1], h.quantile(q)
			if got < exact || float64(got-exact) > float64(exact)/histSub+float64(time.Microsecond) {
				t.Errorf("p%g = %v, exact %v: beyond the bucket resolution", 100*q, got, exact)
			}
		}
		var sum histogram
		sum.add(&h)
		sum.add(&h)
		if h.max() != all[len(all)-1] || sum.count() != 2*h.count() || sum.quantile(0.5) != h.quantile(0.5) || sum.max() != h.max() {
			t.Error("max, or the sum of a histogram with itself, is wrong")
		}
	})
}

func TestSchedule(t *testing.T) {
	origin := time.Unix(1000, 0)
	for _, tc := range []struct {
		name string
		s    schedule
		n    int
		want time.Duration
	}{
		{"flat", schedule{origin: origin, rate: 100}, 250, 2500 * time.Millisecond},
		{"ramp start", schedule{origin: origin, rate: 100, ramp: 10 * time.Second}, 0, 0},
		{"mid-ramp", schedule{origin: origin, rate: 100, ramp: 10 * time.Second}, 125, 5 * time.Second},
		{"ramp end", schedule{origin: origin, rate: 100, ramp: 10 * time.Second}, 500, 10 * time.Second},
		{"after the ramp", schedule{origin: origin, rate: 100, ramp: 10 * time.Second}, 600, 11 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.due(tc.n).Sub(origin); (got - tc.want).Abs() > time.Microsecond {
				t.Fatalf("due(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

func TestTimeline(t *testing.T) {
	tl := newTimeline(30*time.Second, 150*time.Second, time.Minute)
	if len(tl.windows) != 3 || tl.windows[2].length != 30*time.Second || tl.measured() != 150*time.Second {
		t.Fatalf("%d windows, the last of %v, %v measured", len(tl.windows), tl.windows[2].length, tl.measured())
	}
	for _, tc := range []struct {
		at   time.Duration
		want *window
	}{{-time.Second, tl.warm}, {29 * time.Second, tl.warm}, {30 * time.Second, tl.windows[0]},
		{90 * time.Second, tl.windows[1]}, {179 * time.Second, tl.windows[2]}, {time.Hour, tl.windows[2]}} {
		if tl.at(tl.origin.Add(tc.at)) != tc.want {
			t.Errorf("at(%v) is the wrong window", tc.at)
		}
	}
	tl.warm.ok.Add(5)
	tl.windows[0].ok.Add(2)
	tl.windows[2].errs.Add(1)
	if tot := tl.total(); tot.attempts() != 3 || tl.attempts() != 8 {
		t.Errorf("total %d attempts, all %d; want 3 and 8", tot.attempts(), tl.attempts())
	}
}

func TestTally(t *testing.T) {
	var ta tally
	for i := range maxSamples + 5 {
		ta.add("timeout", "request %d", i)
	}
	ta.add("HTTP 429", "slow down")
	f := ta.snapshot()
	if f.Errors != maxSamples+6 || len(f.ErrorSamples) != maxSamples || kindsString(f.ErrorKinds) != "HTTP 429 1, timeout 15" || f.ErrorSamples[0] != "timeout: request 0" {
		t.Fatalf("total %d, kinds %q, samples %q", f.Errors, kindsString(f.ErrorKinds), f.ErrorSamples)
	}
}

func TestLogStats(t *testing.T) {
	var l logStats
	l.Write([]byte(`{"level":"INFO","msg":"listening"}` + "\n" + `{"level":"WA`))
	l.Write([]byte(`RN","msg":"slow"}` + "\n" + strings.Repeat("x", 10<<10) + "\n"))
	l.Write([]byte(`{"level":"ERROR","msg":"boom"}` + "\nunfinished"))
	if l.lines != 4 || l.warns != 1 || l.errors != 1 || len(l.notices) != 2 || l.notices[0] != `{"level":"WARN","msg":"slow"}` {
		t.Fatalf("lines %d, warnings %d, errors %d, notices %q", l.lines, l.warns, l.errors, l.notices)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}
