//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/database"
)

// What jobs that end carry: the result of a done job (a small signed URL,
// like a log export's) and the message of a failed one.
const (
	doneResult  = `{"url":"https://storage.example.com/x.json.gz?sig=abc"}`
	failMessage = `polybench: simulated failure of "step 3" <after retries>`
)

// Ranks of a job's statuses along its lifecycle: created → running → done or
// failed. Which terminal status a job reaches is fixed when it is created.
const (
	rankCreated  int32 = 0
	rankRunning  int32 = 1
	rankTerminal int32 = 2
)

// job is a job the load requests. Whoever moves it along its lifecycle
// publishes, around each change, what the server may answer: a response to a
// request sent after a change was committed must show it (committed), and no
// response may show a change not yet begun (begun).
type job struct {
	id    uuid.UUID
	typ   string
	path  string
	fails bool // its terminal status is failed, not done

	committed atomic.Int32 // rank of the newest status committed to the store
	begun     atomic.Int32 // rank of the newest status begun to be written
}

// newJob returns a job at rank (committed and begun).
func newJob(id uuid.UUID, typ string, fails bool, rank int32) *job {
	j := &job{id: id, typ: typ, fails: fails, path: fixture.Job{ID: id, Type: typ}.Path()}
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
	}
	return "done"
}

// rankOf returns the rank of an API status, and false when the job can never
// be in it (an unknown status, or the terminal status it does not reach).
func (j *job) rankOf(status string) (int32, bool) {
	switch status {
	case "created":
		return rankCreated, true
	case "running":
		return rankRunning, true
	case "done", "failed":
		return rankTerminal, j.fails == (status == "failed")
	}
	return 0, false
}

// fixture returns the job at rank as the API reports it.
func (j *job) fixture(rank int32) fixture.Job {
	fj := fixture.Job{ID: j.id, Type: j.typ, Status: j.status(rank)}
	switch {
	case rank < rankTerminal:
	case j.fails:
		fj.Error = failMessage
	default:
		fj.Result = json.RawMessage(doneResult)
	}
	return fj
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

// fixture returns the pool's jobs, as they are now, with the key.
func (p *pool) fixture(key string) *fixture.Fixture {
	fx := &fixture.Fixture{Key: key}
	for _, j := range p.all() {
		fx.Jobs = append(fx.Jobs, j.fixture(j.committed.Load()))
	}
	return fx
}

// tenant is a seeded organization: its user key and its jobs, and the store
// open on its database.
type tenant struct {
	st   store.Store
	org  uuid.UUID
	key  string
	jobs []*job
}

// storeTimeout bounds one store call of the seeding and of the soak's writer.
const storeTimeout = 10 * time.Second

// seed opens the database dsn through server/store/database, the store
// opener of the binary and the tests, and creates an organization, a user key
// and n jobs as addJobs does. The caller closes t.st.
func seed(ctx context.Context, dsn string, n int, mix []string) (t *tenant, err error) {
	t = &tenant{}
	if t.st, err = database.Open(ctx, dsn); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			t.st.Close()
		}
	}()
	org, err := t.st.CreateOrganization(ctx, "polybench")
	if err != nil {
		return nil, err
	}
	t.org = org.ID
	key, hash, err := apikey.New(store.KeyKindUser)
	if err != nil {
		return nil, err
	}
	if _, err := t.st.CreateKey(ctx, org.ID, store.KeyKindUser, hash); err != nil {
		return nil, err
	}
	t.key = key
	if t.jobs, err = t.addJobs(ctx, n, mix); err != nil {
		return nil, err
	}
	return t, nil
}

// addJobs creates n jobs of the tenant: the types in turn, and the statuses
// of mix in turn, shifted by one every len(types) jobs so that every type
// gets every status (each one once in len(types)*len(mix) jobs, whatever the
// number of types). One job in four that is not terminal yet will fail rather
// than finish.
func (t *tenant) addJobs(ctx context.Context, n int, mix []string) ([]*job, error) {
	types := api.JobTypeValues()
	jobs := make([]*job, 0, n)
	for i := range n {
		status := mix[(i%len(types)+i/len(types))%len(mix)]
		j, err := t.create(ctx, string(types[i%len(types)]), status == "failed" || (status != "done" && plannedFailure(i)))
		if err != nil {
			return nil, err
		}
		rank, _ := j.rankOf(status)
		for r := rankRunning; r <= rank; r++ {
			if err := t.advance(ctx, j, r); err != nil {
				return nil, err
			}
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// plannedFailure says whether the n-th job fails rather than finishes: one
// in four.
func plannedFailure(n int) bool { return n%4 == 3 }

// create creates a job of the tenant.
func (t *tenant) create(ctx context.Context, typ string, fails bool) (*job, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	sj, err := t.st.CreateJob(ctx, t.org, store.JobType(typ))
	if err != nil {
		return nil, fmt.Errorf("create a %s job: %w", typ, err)
	}
	return newJob(sj.ID, typ, fails, rankCreated), nil
}

// advance moves j to rank (running, or its terminal status) in the store,
// publishing the change as begun before and as committed after.
func (t *tenant) advance(ctx context.Context, j *job, rank int32) error {
	tr := store.Start()
	switch {
	case rank < rankTerminal:
	case j.fails:
		tr = store.Fail(failMessage)
	default:
		tr = store.Finish(json.RawMessage(doneResult))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	j.begun.Store(rank)
	if _, err := t.st.Transition(ctx, j.id, tr); err != nil {
		return fmt.Errorf("move job %s to %s: %w", j.id, j.status(rank), err)
	}
	j.committed.Store(rank)
	return nil
}
