package fastpath

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
)

// fakeJobs is a query function over a fixed set of jobs that records every
// query and can hold queries until released.
type fakeJobs struct {
	jobs map[uuid.UUID]store.Job
	err  error
	// hold, when non-nil, blocks every query until it is closed.
	hold chan struct{}

	mu      sync.Mutex
	queries [][]uuid.UUID
	started chan []uuid.UUID // receives each query's ids as it starts, if non-nil
}

func (f *fakeJobs) query(ctx context.Context, keys []store.JobKey) ([]store.Job, error) {
	ids := make([]uuid.UUID, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	f.mu.Lock()
	f.queries = append(f.queries, slices.Clone(ids))
	f.mu.Unlock()
	if f.started != nil {
		f.started <- slices.Clone(ids)
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	var out []store.Job
	for _, k := range keys {
		if j, ok := f.jobs[k.ID]; ok && j.OrgID == k.OrgID { // as the database matches them
			out = append(out, j)
		}
	}
	return out, nil
}

func (f *fakeJobs) queryCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queries)
}

func newFakeJobs(orgs []uuid.UUID, perOrg int) (*fakeJobs, []store.Job) {
	f := &fakeJobs{jobs: map[uuid.UUID]store.Job{}}
	var all []store.Job
	for _, org := range orgs {
		for range perOrg {
			j := store.Job{ID: uuid.New(), OrgID: org, Type: store.JobType("exportlogs"), Status: store.JobStatus("running")}
			f.jobs[j.ID] = j
			all = append(all, j)
		}
	}
	return f, all
}

func TestBatcherAnswersEachLookup(t *testing.T) {
	orgA, orgB := uuid.New(), uuid.New()
	f, jobs := newFakeJobs([]uuid.UUID{orgA, orgB}, 20)
	b := newJobBatcher(2, f.query)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(jobs))
	for _, j := range jobs {
		for range 2 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				got, err := b.lookup(ctx, store.JobKey{OrgID: j.OrgID, ID: j.ID})
				if err != nil || got.ID != j.ID {
					errs <- errors.Join(errors.New("own job: wrong answer"), err)
				}
			}()
			go func() {
				defer wg.Done()
				other := orgA
				if j.OrgID == orgA {
					other = orgB
				}
				if _, err := b.lookup(ctx, store.JobKey{OrgID: other, ID: j.ID}); !errors.Is(err, store.ErrNotFound) {
					errs <- errors.Join(errors.New("other organization's job: want ErrNotFound"), err)
				}
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := b.lookup(ctx, store.JobKey{OrgID: orgA, ID: uuid.New()}); !errors.Is(err, store.ErrNotFound) {
			errs <- errors.Join(errors.New("unknown id: want ErrNotFound"), err)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := f.queryCount(); n > 4*len(jobs)+1 {
		t.Errorf("%d queries for %d lookups", n, 4*len(jobs)+1)
	}
}

// TestBatcherSharesQueries fills every slot with a held query, then checks
// that the lookups arriving meanwhile share one query, with each id once.
func TestBatcherSharesQueries(t *testing.T) {
	org := uuid.New()
	f, jobs := newFakeJobs([]uuid.UUID{org}, 10)
	f.hold = make(chan struct{})
	f.started = make(chan []uuid.UUID, 100)
	const slots = 2
	b := newJobBatcher(slots, f.query)
	ctx := context.Background()

	var wg sync.WaitGroup
	results := make(chan error, 100)
	lookup := func(j store.Job) {
		defer wg.Done()
		got, err := b.lookup(ctx, store.JobKey{OrgID: org, ID: j.ID})
		if err == nil && got.ID != j.ID {
			err = errors.New("wrong job")
		}
		results <- err
	}
	for i := range slots {
		wg.Add(1)
		go lookup(jobs[i])
		<-f.started // the slot is taken by a running query
	}
	// These arrive while every slot is busy: they must wait and share.
	const waiting = 16
	for i := range waiting {
		wg.Add(1)
		go lookup(jobs[slots+i%4])
	}
	waitFor(t, "lookups to join the pending batch", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.pending != nil && len(b.pending.keys) == waiting
	})
	close(f.hold)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Error(err)
		}
	}
	if n := f.queryCount(); n != slots+1 {
		t.Fatalf("%d queries, want %d (one per slot, then one shared)", n, slots+1)
	}
	shared := f.queries[slots]
	if want := []uuid.UUID{jobs[2].ID, jobs[3].ID, jobs[4].ID, jobs[5].ID}; !sameIDs(shared, want) {
		t.Errorf("shared query ids = %v, want each of %v once", shared, want)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inFlight != 0 || b.pending != nil {
		t.Errorf("after the lookups: inFlight %d, pending %v; want 0 and nil", b.inFlight, b.pending)
	}
}

// TestBatcherNeverJoinsAStartedQuery: a lookup that begins after a query was
// sent is answered by a later query, so it cannot miss a write committed
// before it began.
func TestBatcherNeverJoinsAStartedQuery(t *testing.T) {
	org := uuid.New()
	f, jobs := newFakeJobs([]uuid.UUID{org}, 3)
	f.hold = make(chan struct{})
	f.started = make(chan []uuid.UUID, 10)
	b := newJobBatcher(1, f.query)
	ctx := context.Background()
	done := make(chan error, 2)
	go func() { _, err := b.lookup(ctx, store.JobKey{OrgID: org, ID: jobs[0].ID}); done <- err }()
	first := <-f.started
	go func() { _, err := b.lookup(ctx, store.JobKey{OrgID: org, ID: jobs[1].ID}); done <- err }()
	waitFor(t, "the second lookup to wait", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.pending != nil
	})
	close(f.hold)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	second := <-f.started
	if slices.Contains(first, jobs[1].ID) || !slices.Contains(second, jobs[1].ID) {
		t.Fatalf("queries %v then %v: the later lookup must only be in the second", first, second)
	}
}

func TestBatcherCallerCancels(t *testing.T) {
	org := uuid.New()
	f, jobs := newFakeJobs([]uuid.UUID{org}, 2)
	f.hold = make(chan struct{})
	f.started = make(chan []uuid.UUID, 10)
	b := newJobBatcher(1, f.query)
	first := make(chan error, 1)
	go func() {
		_, err := b.lookup(context.Background(), store.JobKey{OrgID: org, ID: jobs[0].ID})
		first <- err
	}()
	<-f.started
	ctx, cancel := context.WithCancel(context.Background())
	waiter := make(chan error, 1)
	go func() { _, err := b.lookup(ctx, store.JobKey{OrgID: org, ID: jobs[1].ID}); waiter <- err }()
	waitFor(t, "the lookup to wait", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.pending != nil
	})
	cancel()
	if err := <-waiter; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled lookup: got %v, want context.Canceled", err)
	}
	close(f.hold)
	if err := <-first; err != nil {
		t.Fatalf("the other lookup: %v", err)
	}
	// The abandoned batch still ran and gave its slot back.
	if _, err := b.lookup(context.Background(), store.JobKey{OrgID: org, ID: jobs[1].ID}); err != nil {
		t.Fatalf("lookup after: %v", err)
	}
}

func TestBatcherQueryError(t *testing.T) {
	org := uuid.New()
	f, jobs := newFakeJobs([]uuid.UUID{org}, 5)
	f.err = errors.New("connection refused")
	b := newJobBatcher(1, f.query)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.lookup(context.Background(), store.JobKey{OrgID: org, ID: j.ID})
			if !errors.Is(err, f.err) || errors.Is(err, store.ErrNotFound) {
				t.Errorf("got %v, want the query's error", err)
			}
		}()
	}
	wg.Wait()
}

// TestBatcherQueryTimeout: a shared query that hangs is abandoned after the
// batcher's timeout, and its slot is given back.
func TestBatcherQueryTimeout(t *testing.T) {
	org := uuid.New()
	f, jobs := newFakeJobs([]uuid.UUID{org}, 1)
	f.hold = make(chan struct{}) // never closed: every query hangs until its context ends
	b := newJobBatcher(1, f.query)
	b.timeout = 50 * time.Millisecond
	if _, err := b.lookup(context.Background(), store.JobKey{OrgID: org, ID: jobs[0].ID}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inFlight != 0 {
		t.Fatalf("inFlight %d after the timeout, want 0", b.inFlight)
	}
}

func sameIDs(got, want []uuid.UUID) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	cmp := func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) }
	slices.SortFunc(g, cmp)
	slices.SortFunc(w, cmp)
	return slices.Equal(g, w)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBatcherLargeBatch sends one batch large enough to be indexed, with
// lookups from the jobs' organization and from another one.
func TestBatcherLargeBatch(t *testing.T) {
	org, other := uuid.New(), uuid.New()
	f, jobs := newFakeJobs([]uuid.UUID{org}, 3*indexFrom)
	f.hold = make(chan struct{})
	f.started = make(chan []uuid.UUID, 10)
	b := newJobBatcher(1, f.query)
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { _, err := b.lookup(ctx, store.JobKey{OrgID: org, ID: jobs[0].ID}); first <- err }()
	<-f.started
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(jobs))
	for _, j := range jobs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if got, err := b.lookup(ctx, store.JobKey{OrgID: org, ID: j.ID}); err != nil || got.ID != j.ID {
				errs <- errors.Join(errors.New("own job: wrong answer"), err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := b.lookup(ctx, store.JobKey{OrgID: other, ID: j.ID}); !errors.Is(err, store.ErrNotFound) {
				errs <- errors.Join(errors.New("other organization: want ErrNotFound"), err)
			}
		}()
	}
	waitFor(t, "every lookup to join the batch", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.pending != nil && len(b.pending.keys) == 2*len(jobs)
	})
	close(f.hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := len(<-f.started); n != 2*len(jobs) {
		t.Fatalf("the shared query asked for %d keys, want %d (each job for two organizations)", n, 2*len(jobs))
	}
}
