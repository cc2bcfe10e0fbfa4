//go:build linux

package main

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
	"github.com/polyjobs/polyjobs/server/store"
)

// writerTick is how often the writer creates a job and moves older ones on.
const writerTick = 200 * time.Millisecond

// lifecycleDepth is how many younger jobs must share a job's status before the
// writer moves it on. With the seeded jobs queued first, a job stays in
// created and in running for about as many ticks as there were seeded jobs in
// that status (or lifecycleDepth ticks, whichever is more).
const lifecycleDepth = 10

// writer keeps jobs moving during the soak, through the store, in this
// process: every tick it creates a job (published to the load once
// committed), starts the oldest created job and ends the oldest running one,
// as done or failed. It keeps the pool at its size by withdrawing the job
// that ended longest ago, so that the load's working set stays the same
// (and memory that grows with it is not mistaken for a leak); withdrawn jobs
// stay in the database.
type writer struct {
	st   store.Store
	org  uuid.UUID
	pool *pool
	size int // the pool's size to keep
	seq  int // sequence number of the next job: its type and outcome in turn

	created, running, ended []*job // oldest first
	every                   []*job // every job, withdrawn or not, for the final check
	errs                    tally

	// Counts of committed changes and withdrawn jobs; read once run has
	// returned.
	ticks, creates, starts, finishes, fails, retired int64
}

// newWriter returns a writer that moves the jobs of pool, oldest first.
func newWriter(st store.Store, org uuid.UUID, p *pool) *writer {
	w := &writer{st: st, org: org, pool: p, size: len(p.all()), seq: len(p.all()), every: slices.Clone(p.all())}
	for _, j := range p.all() {
		switch j.committed.Load() {
		case rankCreated:
			w.created = append(w.created, j)
		case rankRunning:
			w.running = append(w.running, j)
		default:
			w.ended = append(w.ended, j)
		}
	}
	return w
}

// run steps every writerTick until ctx is done. A step under way when ctx is
// done is finished: its store calls have their own timeouts.
func (w *writer) run(ctx context.Context) {
	t := time.NewTicker(writerTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.step(ctx)
		}
	}
}

// step creates one job, moves the oldest created and running jobs on once
// their queues are deep enough, and keeps the pool at its size.
func (w *writer) step(ctx context.Context) {
	w.ticks++
	typ := fixture.Types[w.seq%len(fixture.Types)]
	fails := plannedFailure(w.seq)
	w.seq++
	if j, err := createJob(ctx, w.st, w.org, typ, fails); err != nil {
		w.errs.add("create", "%v", err)
	} else {
		w.pool.add(j)
		w.created = append(w.created, j)
		w.every = append(w.every, j)
		w.creates++
	}
	if len(w.created) > lifecycleDepth {
		j := w.created[0]
		w.created = w.created[1:]
		if err := advance(ctx, w.st, j, rankRunning); err != nil {
			w.errs.add("start", "%v", err)
		} else {
			w.running = append(w.running, j)
			w.starts++
		}
	}
	if len(w.running) > lifecycleDepth {
		j := w.running[0]
		w.running = w.running[1:]
		switch err := advance(ctx, w.st, j, rankTerminal); {
		case err != nil:
			w.errs.add("end", "%v", err)
		case j.fails:
			w.fails++
		default:
			w.finishes++
		}
		if j.committed.Load() == rankTerminal {
			w.ended = append(w.ended, j)
		}
	}
	w.keepSize()
}

// keepSize withdraws the jobs that ended longest ago from the pool until it
// is back to its size.
func (w *writer) keepSize() {
	for len(w.pool.all()) > w.size && len(w.ended) > 0 {
		if w.pool.retire(w.ended[0]) {
			w.retired++
		}
		w.ended = w.ended[1:]
	}
}
