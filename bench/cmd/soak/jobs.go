//go:build linux

package main

import (
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

// What the writer gives the jobs that end: the result of a done job (a small
// signed URL, like a log export's, as bench/cmd/loadbench uses) and the
// message of a failed one.
const (
	doneResult  = `{"url":"https://storage.example.com/x.json.gz?sig=abc"}`
	failMessage = `soak: simulated failure of "step 3" <after retries>`
)

// Ranks of a job's statuses along its lifecycle: created → running → done or
// failed. Which terminal status a job reaches is fixed when it is created.
const (
	rankCreated  int32 = 0
	rankRunning  int32 = 1
	rankTerminal int32 = 2
)

// job is a job the load requests. The writer moves it along its lifecycle and
// publishes, around each change, what the server may answer: a response to a
// request sent after a change was committed must show it (committed), and no
// response may show a change the writer had not begun (begun).
type job struct {
	id    uuid.UUID
	typ   string
	path  string
	fails bool // its terminal status is failed, not done

	committed atomic.Int32 // rank of the newest status committed to the store
	begun     atomic.Int32 // rank of the newest status the writer began to write
}

// newJob returns a job at rank (committed and begun).
func newJob(id uuid.UUID, typ string, fails bool, rank int32) *job {
	j := &job{id: id, typ: typ, path: "/api/jobs/" + typ + "/" + id.String(), fails: fails}
	j.committed.Store(rank)
	j.begun.Store(rank)
	return j
}

// status returns the API status of the job at rank.
func (j *job) status(rank int32) string {
	switch {
	case rank <= rankCreated:
		return "created"
	case rank == rankRunning:
		return "running"
	case j.fails:
		return "failed"
	default:
		return "done"
	}
}

// rankOf returns the rank of an API status, and false when the job can never
// be in it (an unknown status, or the terminal status it does not reach).
func (j *job) rankOf(status string) (int32, bool) {
	switch status {
	case "created":
		return rankCreated, true
	case "running":
		return rankRunning, true
	case "done":
		return rankTerminal, !j.fails
	case "failed":
		return rankTerminal, j.fails
	}
	return 0, false
}

// body returns the exact 200 body of the job at rank.
func (j *job) body(rank int32) []byte {
	fj := fixture.Job{ID: j.id, Type: j.typ, Status: j.status(rank)}
	if rank == rankTerminal {
		if j.fails {
			fj.Error = failMessage
		} else {
			fj.Result = json.RawMessage(doneResult)
		}
	}
	return fixture.AppendBody(nil, fj)
}

// pool is the set of jobs the load rotates over. Readers never lock: the
// slice is published whole, and a change publishes a new one.
type pool struct {
	mu     sync.Mutex // serializes changes
	jobs   atomic.Pointer[[]*job]
	cursor atomic.Uint64
}

// newPool returns a pool of jobs (at least one).
func newPool(jobs []*job) *pool {
	p := &pool{}
	p.jobs.Store(&jobs)
	return p
}

// add publishes a job: requests may pick it from now on.
func (p *pool) add(j *job) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.jobs.Load()
	jobs := append(old[:len(old):len(old)], j)
	p.jobs.Store(&jobs)
}

// retire withdraws a job: requests no longer pick it (one picked just
// before may still be under way). It reports whether j was in the pool; the
// last job is never withdrawn.
func (p *pool) retire(j *job) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.jobs.Load()
	i := slices.Index(old, j)
	if i < 0 || len(old) == 1 {
		return false
	}
	jobs := slices.Delete(slices.Clone(old), i, i+1)
	p.jobs.Store(&jobs)
	return true
}

// next returns the next job in turn.
func (p *pool) next() *job {
	jobs := *p.jobs.Load()
	return jobs[(p.cursor.Add(1)-1)%uint64(len(jobs))]
}

// all returns the jobs in the pool now.
func (p *pool) all() []*job { return *p.jobs.Load() }

// mix counts the jobs by the status they were last committed in.
func (p *pool) mix() map[string]int {
	m := map[string]int{}
	for _, j := range p.all() {
		m[j.status(j.committed.Load())]++
	}
	return m
}
