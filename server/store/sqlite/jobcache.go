package sqlite

import (
	"sync"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
)

// maxRecentJobs bounds the jobs remembered for unchanged-database reads.
const maxRecentJobs = 20_000

// recentJobs remembers jobs as read from the database with the WAL-index
// header seen just before the read. A job is served from here only while the
// header is still the same: nothing was committed since, by any process, so
// the database would return the same row.
type recentJobs struct {
	mu   sync.RWMutex
	jobs map[recentKey]recentJob
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
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs == nil || len(r.jobs) >= maxRecentJobs {
		r.jobs = make(map[recentKey]recentJob)
	}
	r.jobs[recentKey{org, id}] = recentJob{token: before, job: job}
}
