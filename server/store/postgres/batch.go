package postgres

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
)

// jobBatcher coalesces concurrent job lookups into shared queries.
//
// A busy API server looks up many jobs at once, and each lookup of its own
// would cost a round trip, a query and a context switch on both sides. So a
// lookup either joins the batch that is still collecting lookups or starts
// one: it takes one of maxInFlight slots, yields once so that the requests
// already being served reach their own lookups and join, then runs the whole
// batch as one `id = ANY($1)` query. When every slot is busy the new batch
// waits and runs as soon as one is freed. Under light load nothing waits;
// under heavy load one query answers dozens of requests.
//
// Batching never serves stale data: a lookup only ever joins a batch whose
// query has not been sent yet, so the rows it gets were read after the lookup
// began, exactly as with a query of its own. A transition committed before a
// request arrives, on any replica, is always seen.
//
// The shared query runs on a context of its own, bounded by timeout, since
// it serves several callers; each caller that waits for a batch stops waiting
// when its own context ends.
type jobBatcher struct {
	// query reads the jobs with the given distinct ids (absent ids are
	// simply missing from the result).
	query func(ctx context.Context, ids []uuid.UUID) ([]store.Job, error)
	// maxInFlight bounds the queries running at once.
	maxInFlight int
	// timeout bounds a shared query, which outlives any one caller's context.
	timeout time.Duration

	mu       sync.Mutex
	inFlight int
	// pending is the batch still collecting lookups: its leader is yielding,
	// or (led is false) it waits for a free slot.
	pending *jobBatch
}

// jobBatch is one query's worth of lookups and, once done is closed, its outcome.
type jobBatch struct {
	ids []uuid.UUID
	// led is set once a goroutine has taken a slot to run the batch.
	led  bool
	done chan struct{}
	jobs []store.Job
	// index maps ids to positions in jobs, for batches of indexFrom jobs or more.
	index map[uuid.UUID]int
	err   error
}

// defaultBatchTimeout bounds a shared batch query. A lookup by primary key
// that takes this long means the database is gone; each caller also stops
// waiting when its own context ends.
const defaultBatchTimeout = 10 * time.Second

// newJobBatcher returns a batcher running at most maxInFlight queries at once.
func newJobBatcher(maxInFlight int, query func(ctx context.Context, ids []uuid.UUID) ([]store.Job, error)) *jobBatcher {
	return &jobBatcher{query: query, maxInFlight: max(1, maxInFlight), timeout: defaultBatchTimeout}
}

// lookup returns the job with the given id if it belongs to orgID, else an
// error wrapping store.ErrNotFound.
func (b *jobBatcher) lookup(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	b.mu.Lock()
	if batch := b.pending; batch != nil {
		batch.ids = append(batch.ids, id)
		b.mu.Unlock()
		return batch.wait(ctx, orgID, id)
	}
	batch := &jobBatch{ids: []uuid.UUID{id}, done: make(chan struct{})}
	b.pending = batch
	if b.inFlight == b.maxInFlight {
		// Every slot is busy: the first one freed runs this batch.
		b.mu.Unlock()
		return batch.wait(ctx, orgID, id)
	}
	b.inFlight++
	batch.led = true
	b.mu.Unlock()
	// Lead the batch. Yield once first, so that the requests already being
	// served on this thread reach their lookups and join: under load this
	// turns many queries into one, and when idle it costs nothing.
	runtime.Gosched()
	b.execute(batch)
	return batch.pick(orgID, id)
}

// wait waits for the batch's query, or for ctx to end.
func (batch *jobBatch) wait(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	select {
	case <-batch.done:
		return batch.pick(orgID, id)
	case <-ctx.Done():
		// The batch still runs for the others; this caller stops waiting.
		return store.Job{}, fmt.Errorf("job %s: %w", id, ctx.Err())
	}
}

// execute closes the batch to new lookups, queries it on behalf of all its
// callers, then frees its slot, handing the slot straight to a batch that
// waits for one.
func (b *jobBatcher) execute(batch *jobBatch) {
	b.mu.Lock()
	if b.pending == batch {
		b.pending = nil
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	batch.jobs, batch.err = b.query(ctx, distinct(batch.ids))
	cancel()
	if len(batch.jobs) >= indexFrom {
		batch.index = make(map[uuid.UUID]int, len(batch.jobs))
		for i := range batch.jobs {
			batch.index[batch.jobs[i].ID] = i
		}
	}
	close(batch.done)

	b.mu.Lock()
	next := b.pending
	if next != nil && !next.led {
		next.led = true
		b.mu.Unlock()
		go b.execute(next)
		return
	}
	b.inFlight--
	b.mu.Unlock()
}

// indexFrom is the number of jobs from which a batch indexes its jobs by id,
// so that each of its many callers finds its own without a scan.
const indexFrom = 16

// pick finds the job with id among the batch's jobs, checking its
// organization. Another organization's job is reported exactly like a
// missing one.
func (batch *jobBatch) pick(orgID, id uuid.UUID) (store.Job, error) {
	if batch.err != nil {
		return store.Job{}, fmt.Errorf("job %s: %w", id, batch.err)
	}
	i := -1
	if batch.index != nil {
		if at, ok := batch.index[id]; ok {
			i = at
		}
	} else {
		for at := range batch.jobs {
			if batch.jobs[at].ID == id {
				i = at
				break
			}
		}
	}
	if i < 0 || batch.jobs[i].OrgID != orgID {
		return store.Job{}, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	return batch.jobs[i], nil
}

// distinct returns ids without repeats, in their first order.
func distinct(ids []uuid.UUID) []uuid.UUID {
	if len(ids) < 2 {
		return ids // a lone lookup, the common case when idle: no map to build
	}
	out := ids[:0:0]
	seen := make(map[uuid.UUID]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}
