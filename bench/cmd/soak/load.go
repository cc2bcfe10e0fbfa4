//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

// validateEvery: each connection validates one response in this many (the
// headers and the exact body); the others are checked for their status only.
const validateEvery = 10

// connectBackoff is how long a connection waits after a failed dial, so that a
// server that is gone is not hammered.
const connectBackoff = 10 * time.Millisecond

// generator loads the server with GET requests rotating over the jobs of a
// pool, recording each request in the window of the timeline in which it was
// due and each failure in errs.
type generator struct {
	addr    string // host:port of the API
	headers []byte // Authorization and X-Polytomic-Version header lines
	pool    *pool
	tl      *timeline
	errs    *tally
	timeout time.Duration

	validated atomic.Int64 // responses validated in full
}

// newGenerator returns a generator sending requests with the bearer key.
func newGenerator(addr, key string, p *pool, tl *timeline, errs *tally, timeout time.Duration) *generator {
	headers := fmt.Appendf(nil, "Authorization: Bearer %s\r\nX-Polytomic-Version: %s\r\n", key, fixture.NewestVersion)
	return &generator{addr: addr, headers: headers, pool: p, tl: tl, errs: errs, timeout: timeout}
}

// run drives conns connections until the end of the timeline (or ctx is
// done): open-loop on sched, or closed-loop (each connection sends its next
// request as soon as it has the last response) when sched's rate is 0.
func (g *generator) run(ctx context.Context, conns int, sched schedule) {
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &conn{addr: g.addr, timeout: g.timeout}
			defer c.close()
			if sched.rate > 0 {
				g.openLoop(ctx, c, i, conns, sched)
			} else {
				g.closedLoop(ctx, c)
			}
		}()
	}
	wg.Wait()
}

// openLoop sends the requests i, i+conns, i+2·conns, ... of sched: the
// connections share the schedule in turn. A connection that falls behind
// sends at once until it catches up; the latency of each request is counted
// from when it was due, so waiting shows. Nothing is sent at or after the end
// of the timeline.
func (g *generator) openLoop(ctx context.Context, c *conn, i, conns int, sched schedule) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for n := i; ; n += conns {
		due := sched.due(n)
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
		} else if ctx.Err() != nil || !time.Now().Before(g.tl.end) {
			return
		}
		g.one(c, due, (n/conns)%validateEvery == 0)
	}
}

// closedLoop sends requests back to back until the end of the timeline.
func (g *generator) closedLoop(ctx context.Context, c *conn) {
	for k := 0; ctx.Err() == nil; k++ {
		now := time.Now()
		if !now.Before(g.tl.end) {
			return
		}
		g.one(c, now, k%validateEvery == 0)
	}
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

// excerpt returns the start of a body for a message.
func excerpt(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
