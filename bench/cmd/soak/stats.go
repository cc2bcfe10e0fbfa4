//go:build linux

package main

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// window collects the requests that were due within one stretch of a run.
type window struct {
	offset time.Duration // from the end of the lead-in (negative for the lead-in)
	length time.Duration
	hist   histogram    // latencies of the 200s, from when they were due
	lag    histogram    // how late the 200s were sent: the load behind its schedule
	ok     atomic.Int64 // 200 responses
	errs   atomic.Int64 // failed requests
}

// attempts returns the number of requests sent, answered or not.
func (w *window) attempts() int64 { return w.ok.Load() + w.errs.Load() }

// timeline splits a run into an unmeasured lead-in (warm-up) and measured
// windows of equal length (the last one may be shorter). A request belongs to
// the window in which it was due.
type timeline struct {
	origin  time.Time     // when the first request is due
	lead    time.Duration // the lead-in, 0 for none
	span    time.Duration // the length of each measured window
	end     time.Time     // no request is sent at or after end
	warm    *window       // the lead-in; nil when lead is 0
	windows []*window     // the measured windows
}

// newTimeline returns a timeline starting at origin with a lead-in of lead
// followed by measured time cut into windows of span.
func newTimeline(origin time.Time, lead, measured, span time.Duration) *timeline {
	tl := &timeline{origin: origin, lead: lead, span: span, end: origin.Add(lead + measured)}
	if lead > 0 {
		tl.warm = &window{offset: -lead, length: lead}
	}
	for off := time.Duration(0); off < measured; off += span {
		tl.windows = append(tl.windows, &window{offset: off, length: min(span, measured-off)})
	}
	return tl
}

// measuredStart is when the lead-in ends and the measurement begins.
func (tl *timeline) measuredStart() time.Time { return tl.origin.Add(tl.lead) }

// measured returns the length of the measured time.
func (tl *timeline) measured() time.Duration { return tl.end.Sub(tl.measuredStart()) }

// at returns the window of a request due at t.
func (tl *timeline) at(t time.Time) *window {
	d := t.Sub(tl.origin) - tl.lead
	if d < 0 && tl.warm != nil {
		return tl.warm
	}
	i := int(max(d, 0) / tl.span)
	return tl.windows[min(i, len(tl.windows)-1)]
}

// attempts returns the requests sent so far, the lead-in's included.
func (tl *timeline) attempts() int64 {
	var n int64
	if tl.warm != nil {
		n = tl.warm.attempts()
	}
	for _, w := range tl.windows {
		n += w.attempts()
	}
	return n
}

// total merges the measured windows into one.
func (tl *timeline) total() *window {
	t := &window{length: tl.measured()}
	for _, w := range tl.windows {
		t.hist.add(&w.hist)
		t.lag.add(&w.lag)
		t.ok.Add(w.ok.Load())
		t.errs.Add(w.errs.Load())
	}
	return t
}

// maxSamples bounds the error messages kept for the report.
const maxSamples = 10

// tally counts failures by kind and keeps the first few messages. Failures
// are rare (any fails the soak), so a mutex is cheap enough.
type tally struct {
	mu      sync.Mutex
	byKind  map[string]int64
	samples []string
}

// add counts one failure of the given kind ("HTTP 429", "timeout", "body", ...).
func (t *tally) add(kind, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byKind == nil {
		t.byKind = map[string]int64{}
	}
	t.byKind[kind]++
	if len(t.samples) < maxSamples {
		t.samples = append(t.samples, kind+": "+fmt.Sprintf(format, args...))
	}
}

// total returns the number of failures.
func (t *tally) total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, c := range t.byKind {
		n += c
	}
	return n
}

// snapshot returns a copy of the counts and the messages.
func (t *tally) snapshot() (map[string]int64, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := make(map[string]int64, len(t.byKind))
	for k, v := range t.byKind {
		m[k] = v
	}
	return m, append([]string(nil), t.samples...)
}

// kindsString describes counts by kind, "timeout 3, HTTP 429 1", sorted by kind.
func kindsString(m map[string]int64) string {
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	s := ""
	for i, k := range kinds {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", k, m[k])
	}
	return s
}
