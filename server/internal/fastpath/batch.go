package fastpath

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/polyjobs/polyjobs/server/store"
)

// jobBatcher coalesces concurrent job lookups into shared queries.
//
// A busy API server looks up many jobs at once, and each lookup of its own
// would cost a round trip, a query and a context switch on both sides. So a
// lookup either joins the batch that is still collecting lookups or starts
// one: it takes one of maxInFlight slots, yields once so that the requests
// already being served reach their own lookups and join, then runs the whole
// batch as one query (store.BatchReader.JobsByKeys). When every slot is busy the new batch
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
	// query reads the jobs named by the given distinct keys, each matched
	// with its organization by the database (absent ones are simply missing
	// from the result).
	query func(ctx context.Context, keys []store.JobKey) ([]store.Job, error)
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
	keys []store.JobKey
	// led is set once a goroutine has taken a slot to run the batch.
	led  bool
	done chan struct{}
	jobs []store.Job
	// index maps keys to positions in jobs, for batches of indexFrom jobs or more.
	index map[store.JobKey]int
	err   error
}

// LookupTimeout bounds a database lookup of the request path, a shared
// batch query included: a lookup by primary key that takes this long means
// the database is gone (or a table is locked), and the request gets its 500
// rather than waiting with it. A batch's callers also stop waiting when
// their own contexts end.
const LookupTimeout = 10 * time.Second

// newJobBatcher returns a batcher running at most maxInFlight queries at once.
func newJobBatcher(maxInFlight int, query func(ctx context.Context, keys []store.JobKey) ([]store.Job, error)) *jobBatcher {
	return &jobBatcher{query: query, maxInFlight: max(1, maxInFlight), timeout: LookupTimeout}
}

// lookup returns the job key names, else an error wrapping store.ErrNotFound.
func (b *jobBatcher) lookup(ctx context.Context, key store.JobKey) (store.Job, error) {
	b.mu.Lock()
	if batch := b.pending; batch != nil {
		batch.keys = append(batch.keys, key)
		b.mu.Unlock()
		return batch.wait(ctx, key)
	}
	batch := &jobBatch{keys: []store.JobKey{key}, done: make(chan struct{})}
	b.pending = batch
	if b.inFlight == b.maxInFlight {
		// Every slot is busy: the first one freed runs this batch.
		b.mu.Unlock()
		return batch.wait(ctx, key)
	}
	b.inFlight++
	batch.led = true
	b.mu.Unlock()
	// Lead the batch. Yield once first, so that the requests already being
	// served on this thread reach their lookups and join: under load this
	// turns many queries into one, and when idle it costs nothing.
	runtime.Gosched()
	b.execute(batch)
	return batch.pick(key)
}

// wait waits for the batch's query, or for ctx to end.
func (batch *jobBatch) wait(ctx context.Context, key store.JobKey) (store.Job, error) {
	select {
	case <-batch.done:
		return batch.pick(key)
	case <-ctx.Done():
		// The batch still runs for the others; this caller stops waiting.
		return store.Job{}, fmt.Errorf("job %s: %w", key.ID, ctx.Err())
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
	batch.jobs, batch.err = b.query(ctx, distinct(batch.keys))
	cancel()
	if len(batch.jobs) >= indexFrom {
		batch.index = make(map[store.JobKey]int, len(batch.jobs))
		for i, j := range batch.jobs {
			batch.index[store.JobKey{OrgID: j.OrgID, ID: j.ID}] = i
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

// pick finds the job key names among the batch's jobs. The database has
// matched each job with its organization; this only hands each caller its own.
func (batch *jobBatch) pick(key store.JobKey) (store.Job, error) {
	if batch.err != nil {
		return store.Job{}, fmt.Errorf("job %s: %w", key.ID, batch.err)
	}
	if batch.index != nil {
		if i, ok := batch.index[key]; ok {
			return batch.jobs[i], nil
		}
	} else {
		for _, j := range batch.jobs {
			if j.ID == key.ID && j.OrgID == key.OrgID {
				return j, nil
			}
		}
	}
	return store.Job{}, fmt.Errorf("job %s: %w", key.ID, store.ErrNotFound)
}

// distinct returns keys without repeats, in their first order.
func distinct(keys []store.JobKey) []store.JobKey {
	if len(keys) < 2 {
		return keys // a lone lookup, the common case when idle: no map to build
	}
	out := keys[:0:0]
	seen := make(map[store.JobKey]struct{}, len(keys))
	for _, k := range keys {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}
