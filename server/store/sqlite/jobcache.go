package sqlite

import (
	"sync"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
)

// Bounds of the jobs remembered for unchanged-database reads: how many, and
// the largest result worth keeping (larger ones are read every time).
const (
	maxRecentJobs   = 4096
	maxRecentResult = 4 << 10
)

// recentJobs remembers jobs as read from the database with the WAL-index
// header seen just before the read. A job is served from here only while the
// header is still the same: nothing was committed since, by any process, so
// the database would return the same row. Once the header moves on, no
// remembered job can be served again, so the first job remembered under a
// new header clears the others: memory holds at most the jobs read since the
// last commit.
type recentJobs struct {
	mu    sync.RWMutex
	token walToken
	jobs  map[recentKey]recentJob
}

type recentKey struct{ org, id uuid.UUID }

type recentJob struct {
	token walToken
	job   store.Job
}

func (r *recentJobs) get(org, id uuid.UUID, now walToken) (store.Job, bool) {
	r.mu.RLock()
	e, ok := r.jobs[recentKey{org, id}]
	r.mu.RUnlock()
	if !ok || e.token != now {
		return store.Job{}, false
	}
	return e.job, true
}

func (r *recentJobs) put(org, id uuid.UUID, before walToken, job store.Job) {
	if len(job.Result) > maxRecentResult {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs == nil || before != r.token || len(r.jobs) >= maxRecentJobs {
		r.jobs = make(map[recentKey]recentJob)
		r.token = before
	}
	r.jobs[recentKey{org, id}] = recentJob{token: before, job: job}
}

// len returns how many jobs are remembered.
func (r *recentJobs) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.jobs)
}
