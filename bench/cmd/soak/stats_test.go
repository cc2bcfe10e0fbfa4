//go:build linux

package main

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	prevUpper := int64(-1)
	for i := range histBuckets {
		up := bucketUpper(i)
		if up <= prevUpper {
			t.Fatalf("bucket %d: upper %d not above the previous %d", i, up, prevUpper)
		}
		if got := bucketOf(uint64(up)); got != i {
			t.Fatalf("bucketOf(upper(%d) = %d) = %d", i, up, got)
		}
		if got := bucketOf(uint64(prevUpper + 1)); got != i {
			t.Fatalf("bucketOf(%d), the first value of bucket %d, = %d", prevUpper+1, i, got)
		}
		if lo := prevUpper + 1; lo >= 2*histSub && float64(up-lo+1)/float64(lo) > 1.0/histSub {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, up, histSub)
		}
		prevUpper = up
	}
	if got := bucketOf(1 << 62); got != histBuckets-1 {
		t.Fatalf("bucketOf(huge) = %d, want the last bucket %d", got, histBuckets-1)
	}
}

func TestHistogramQuantiles(t *testing.T) {
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
		exact := all[int(q*float64(len(all)))-1]
		got := h.quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/histSub+float64(time.Microsecond) {
			t.Errorf("p%g = %v, exact %v: beyond the bucket resolution", 100*q, got, exact)
		}
	}
	if h.max() != all[len(all)-1] || h.quantile(1) != h.max() {
		t.Errorf("max %v, p100 %v, want %v", h.max(), h.quantile(1), all[len(all)-1])
	}
	var sum histogram
	sum.add(&h)
	sum.add(&h)
	if sum.count() != 2*h.count() || sum.quantile(0.5) != h.quantile(0.5) || sum.max() != h.max() {
		t.Error("adding a histogram twice changed its shape")
	}
}

func TestTimeline(t *testing.T) {
	origin := time.Unix(1000, 0)
	tl := newTimeline(origin, 30*time.Second, 150*time.Second, time.Minute)
	if len(tl.windows) != 3 || tl.windows[2].length != 30*time.Second {
		t.Fatalf("windows %d, last %v; want 3, the last of 30s", len(tl.windows), tl.windows[len(tl.windows)-1].length)
	}
	if !tl.measuredStart().Equal(origin.Add(30*time.Second)) || tl.measured() != 150*time.Second {
		t.Fatalf("measured from %v for %v", tl.measuredStart(), tl.measured())
	}
	for _, c := range []struct {
		at   time.Duration
		want *window
	}{
		{-time.Second, tl.warm}, {0, tl.warm}, {29 * time.Second, tl.warm},
		{30 * time.Second, tl.windows[0]}, {89 * time.Second, tl.windows[0]}, {90 * time.Second, tl.windows[1]},
		{179 * time.Second, tl.windows[2]}, {time.Hour, tl.windows[2]},
	} {
		if got := tl.at(origin.Add(c.at)); got != c.want {
			t.Errorf("at(%v) is the wrong window", c.at)
		}
	}
	tl.warm.ok.Add(5)
	tl.windows[0].ok.Add(2)
	tl.windows[2].errs.Add(1)
	tl.windows[0].hist.record(time.Millisecond)
	if tot := tl.total(); tot.attempts() != 3 || tot.hist.count() != 1 || tot.length != 150*time.Second {
		t.Errorf("total: %d attempts, %d latencies, %v; want 3, 1, 150s", tot.attempts(), tot.hist.count(), tot.length)
	}
	if tl.attempts() != 8 {
		t.Errorf("attempts() = %d, want 8 with the warm-up", tl.attempts())
	}

	capacity := newTimeline(origin, 0, 10*time.Second, 10*time.Second)
	if capacity.warm != nil || len(capacity.windows) != 1 || capacity.at(origin.Add(-time.Second)) != capacity.windows[0] {
		t.Error("a timeline without lead-in must have a single window for everything")
	}
}

func TestTally(t *testing.T) {
	var ta tally
	for i := range maxSamples + 5 {
		ta.add("timeout", "request %d", i)
	}
	ta.add("HTTP 429", "slow down")
	kinds, samples := ta.snapshot()
	if ta.total() != maxSamples+6 || kinds["timeout"] != maxSamples+5 || len(samples) != maxSamples {
		t.Fatalf("total %d, kinds %v, %d samples", ta.total(), kinds, len(samples))
	}
	if got := kindsString(kinds); got != "HTTP 429 1, timeout 15" {
		t.Errorf("kindsString = %q", got)
	}
	if !strings.HasPrefix(samples[0], "timeout: request 0") {
		t.Errorf("first sample %q", samples[0])
	}
}

func TestSchedule(t *testing.T) {
	origin := time.Unix(1000, 0)
	flat := schedule{origin: origin, rate: 100}
	if got := flat.due(250).Sub(origin); got != 2500*time.Millisecond {
		t.Fatalf("without a ramp, request 250 at 100/s is due at %v, want 2.5s", got)
	}
	ramped := schedule{origin: origin, rate: 100, ramp: 10 * time.Second}
	// Along the ramp, 500 requests (half of 10 s at 100/s); then 100 per second.
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{0, 0}, {125, 5 * time.Second}, {500, 10 * time.Second}, {600, 11 * time.Second}} {
		if got := ramped.due(c.n).Sub(origin); (got - c.want).Abs() > time.Microsecond {
			t.Errorf("due(%d) = %v, want %v", c.n, got, c.want)
		}
	}
	prev := origin
	for n := 1; n < 2000; n++ {
		d := ramped.due(n)
		if !d.After(prev) {
			t.Fatalf("due(%d) = %v is not after due(%d)", n, d, n-1)
		}
		prev = d
	}
}
