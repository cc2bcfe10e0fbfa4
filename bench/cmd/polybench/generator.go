//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

// conn is one keep-alive connection of the load generator. Requests are
// written by hand and responses read with net/http's parser: no client pool
// between the load and the server, no request object per request.
type conn struct {
	addr    string // host:port
	timeout time.Duration

	c    net.Conn
	br   *bufio.Reader
	req  []byte       // the request being sent, reused
	body bytes.Buffer // the last body read, reused
}

// failure is a request that got no complete HTTP response.
type failure struct {
	kind string // connect, write, read or timeout
	err  error
}

// roundTrip sends GET path with the given header lines (each ending in CRLF)
// and reads the response. The body stays valid until the next call. On any
// failure the connection is dropped; the next call dials again.
func (c *conn) roundTrip(path string, headers []byte) (*http.Response, []byte, *failure) {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return nil, nil, c.fail("connect", err)
		}
		// Answers are well under 1 KiB: a small buffer keeps 10,000
		// waiters' connections small.
		c.c, c.br = nc, bufio.NewReaderSize(nc, 4<<10)
	}
	c.req = fmt.Appendf(c.req[:0], "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, c.addr, headers)
	_ = c.c.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.c.Write(c.req); err != nil {
		return nil, nil, c.fail("write", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, nil, c.fail("read", err)
	}
	c.body.Reset()
	_, err = c.body.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, c.fail("read", err)
	}
	if resp.Close {
		c.close()
	}
	return resp, c.body.Bytes(), nil
}

// fail drops the connection and classifies err, timeouts apart.
func (c *conn) fail(kind string, err error) *failure {
	c.close()
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		kind = "timeout"
	}
	return &failure{kind: kind, err: err}
}

// close drops the connection, if any.
func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c, c.br = nil, nil
	}
}

// generator loads a server with GET requests rotating over the jobs of a
// pool, recording each request in the window of the timeline in which it was
// due and each failure in errs.
type generator struct {
	addr    string // host:port of the API
	headers []byte // Authorization and X-Polytomic-Version header lines
	pool    *pool
	tl      *timeline
	errs    *tally
	timeout time.Duration
	// validateEvery: each connection checks one response in this many
	// exactly (see checkResponse); the others by their status only. 0: none.
	validateEvery int

	validated atomic.Int64 // responses checked exactly
}

// newGenerator returns a generator sending requests with the bearer key and
// counting failures in errs.
func newGenerator(addr, key string, p *pool, tl *timeline, errs *tally, timeout time.Duration, validateEvery int) *generator {
	return &generator{addr: addr, headers: authHeaders(key), pool: p, tl: tl, errs: errs, timeout: timeout, validateEvery: validateEvery}
}

// authHeaders returns the Authorization (bearer key) and X-Polytomic-Version
// header lines every request sends.
func authHeaders(key string) []byte {
	return fmt.Appendf(nil, "Authorization: Bearer %s\r\nX-Polytomic-Version: %s\r\n", key, fixture.Version)
}

// connectBackoff is how long a connection waits after a failed dial, so that a
// server that is gone is not hammered.
const connectBackoff = 10 * time.Millisecond

// run drives conns connections until the end of the timeline (or ctx is
// done): open-loop on sched, or closed-loop (each connection sends its next
// request as soon as it has the last response) when sched's rate is 0.
//
// Closed loop, the first requests wait for the timeline's origin. Open loop,
// the connections share the schedule in turn: connection i sends
// the requests i, i+conns, i+2·conns, ... A connection that falls behind
// sends at once until it catches up; latency counts from when a request was
// due, so waiting shows.
func (g *generator) run(ctx context.Context, conns int, sched schedule) {
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c := &conn{addr: g.addr, timeout: g.timeout}
			defer c.close()
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for k := 0; ctx.Err() == nil; k++ {
				due := time.Now()
				if sched.rate > 0 {
					due = sched.due(i + k*conns)
				} else if due.Before(g.tl.origin) {
					due = g.tl.origin
				}
				if !due.Before(g.tl.end) {
					return
				}
				if wait := time.Until(due); wait > 0 {
					timer.Reset(wait)
					select {
					case <-ctx.Done():
						return
					case <-timer.C:
					}
				} else if !time.Now().Before(g.tl.end) {
					return
				}
				g.one(c, due, g.validateEvery > 0 && k%g.validateEvery == 0)
			}
		})
	}
	wg.Wait()
}

// one sends one request, due at due, for the next job and records it.
func (g *generator) one(c *conn, due time.Time, validate bool) {
	j := g.pool.next()
	minRank := j.committed.Load()
	sent := time.Now()
	resp, body, f := c.roundTrip(j.path, g.headers)
	latency := time.Since(due)
	w := g.tl.at(due)
	switch {
	case f != nil:
		w.errs.Add(1)
		g.errs.add(f.kind, "GET %s: %v", j.path, f.err)
		if f.kind == "connect" {
			time.Sleep(connectBackoff)
		}
		return
	case resp.StatusCode != http.StatusOK:
		w.errs.Add(1)
		g.errs.add(fmt.Sprintf("HTTP %d", resp.StatusCode), "GET %s: %s", j.path, excerpt(body))
		return
	}
	if validate {
		g.validated.Add(1)
		if err := checkResponse(j, resp.Header, body, minRank, j.begun.Load()); err != nil {
			w.errs.Add(1)
			g.errs.add("body", "GET %s: %v", j.path, err)
			return
		}
	}
	w.ok.Add(1)
	w.hist.record(latency)
	w.lag.record(sent.Sub(due))
}

// schedule is an open-loop arrival schedule: requests arrive at a constant
// rate per second, reached from zero by a linear ramp, so that a cold server
// is not hit at full rate by its first requests.
type schedule struct {
	origin time.Time     // when the ramp starts
	rate   float64       // requests per second once ramped up; 0 for a closed loop
	ramp   time.Duration // 0 for none
}

// due returns when request n (from 0) is due. Along the ramp the rate grows
// linearly, so the n-th request is due at sqrt(2·ramp·n/rate); after it,
// requests are 1/rate apart.
func (s schedule) due(n int) time.Time {
	k, ramp := float64(n), s.ramp.Seconds()
	t := k/s.rate + ramp/2
	if k < s.rate*ramp/2 {
		t = math.Sqrt(2 * ramp * k / s.rate)
	}
	return s.origin.Add(time.Duration(t * float64(time.Second)))
}

// window collects the requests that were due within one stretch of a run.
type window struct {
	length time.Duration
	hist   histogram    // latencies of the 200s, from when they were due
	lag    histogram    // how late the 200s were sent: the load behind its schedule
	ok     atomic.Int64 // 200 responses
	errs   atomic.Int64 // failed requests
}

// attempts returns the number of requests sent, answered or not.
func (w *window) attempts() int64 { return w.ok.Load() + w.errs.Load() }

// timeline splits a run into an unmeasured lead-in (a warm-up) and measured
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

// newTimeline returns a timeline starting shortly from now with a lead-in of
// lead followed by measured time cut into windows of span.
func newTimeline(lead, measured, span time.Duration) *timeline {
	origin := time.Now().Add(100 * time.Millisecond)
	tl := &timeline{origin: origin, lead: lead, span: span, end: origin.Add(lead + measured)}
	if lead > 0 {
		tl.warm = &window{length: lead}
	}
	for off := time.Duration(0); off < measured; off += span {
		tl.windows = append(tl.windows, &window{length: min(span, measured-off)})
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
	return tl.windows[min(int(max(d, 0)/tl.span), len(tl.windows)-1)]
}

// attempts returns the requests sent so far, the lead-in's included.
func (tl *timeline) attempts() int64 {
	n := tl.total().attempts()
	if tl.warm != nil {
		n += tl.warm.attempts()
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

// maxSamples bounds the error messages kept for a report.
const maxSamples = 10

// tally counts failures by kind and keeps the first few messages. Failures
// are rare (any fails a run), so a mutex is cheap enough.
type tally struct {
	mu      sync.Mutex
	byKind  map[string]int64
	samples []string
}

// add counts one failure of the given kind ("HTTP 429", "timeout", "body", ...).
func (t *tally) add(kind, format string, args ...any) { t.addN(kind, 1, format, args...) }

// addN counts n failures of the given kind, described by one message; none
// when n is 0.
func (t *tally) addN(kind string, n int64, format string, args ...any) {
	if n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byKind == nil {
		t.byKind = map[string]int64{}
	}
	t.byKind[kind] += n
	if len(t.samples) < maxSamples {
		t.samples = append(t.samples, kind+": "+fmt.Sprintf(format, args...))
	}
}

// failures is what a tally counted, as the reports show it.
type failures struct {
	// Errors is the total, ErrorKinds the counts by kind, ErrorSamples the
	// first messages.
	Errors       int64            `json:"errors"`
	ErrorKinds   map[string]int64 `json:"error_kinds,omitempty"`
	ErrorSamples []string         `json:"error_samples,omitempty"`
}

// snapshot returns the total, a copy of the counts and the messages.
func (t *tally) snapshot() failures {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := failures{ErrorKinds: make(map[string]int64, len(t.byKind)), ErrorSamples: slices.Clone(t.samples)}
	for k, v := range t.byKind {
		f.ErrorKinds[k], f.Errors = v, f.Errors+v
	}
	return f
}

// kindsString describes counts by kind, "HTTP 429 1, timeout 3", sorted by kind.
func kindsString(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// excerpt returns the start of a body for a message.
func excerpt(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
