package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/servertest"
)

// fast polls every few milliseconds, for Wait tests against real time.
var fast = WithPollInterval(time.Millisecond, 5*time.Millisecond)

func TestWaitDone(t *testing.T) {
	srv := servertest.New(t)
	c := newClient(t, srv.URL, WithAPIKey(srv.UserKey))
	id := srv.CreateJob(JobTypeExportLogs)
	var seen []JobStatus
	// Each observation moves the job on, so the sequence is deterministic.
	progress := WithProgress(func(j *Job) {
		seen = append(seen, j.Status)
		switch j.Status {
		case JobStatusCreated:
			srv.Start(id)
		case JobStatusRunning:
			srv.Finish(id, map[string]string{"url": "https://example.com/x"})
		}
	})
	job, err := c.Wait(t.Context(), JobTypeExportLogs, id, fast, progress)
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != JobStatusDone || string(job.Result) != `{"url":"https://example.com/x"}` {
		t.Errorf("job %+v", job)
	}
	if want := []JobStatus{JobStatusCreated, JobStatusRunning, JobStatusDone}; !slices.Equal(seen, want) {
		t.Errorf("progress %v; want %v", seen, want)
	}
	if srv.Requests() != 3 {
		t.Errorf("%d requests; want 3", srv.Requests())
	}
}

func TestWaitFailed(t *testing.T) {
	srv := servertest.New(t)
	c, err := New(WithBaseURL(srv.URL), WithOrgKey(srv.OrgID, srv.OrgKey))
	if err != nil {
		t.Fatal(err)
	}
	id := srv.CreateJob(JobTypePreviewModel)
	srv.Start(id)
	progress := WithProgress(func(j *Job) {
		if j.Status == JobStatusRunning {
			srv.Fail(id, `relation "users" does not exist`)
		}
	})
	job, err := c.Wait(t.Context(), JobTypePreviewModel, id, fast, progress)
	var failed *JobFailedError
	if !errors.As(err, &failed) {
		t.Fatalf("error %v; want a *JobFailedError", err)
	}
	if job == nil || failed.Job != job || job.Status != JobStatusFailed || job.Error != `relation "users" does not exist` {
		t.Errorf("job %+v, error's job %+v", job, failed.Job)
	}
	if !strings.Contains(err.Error(), `relation "users" does not exist`) {
		t.Errorf("error %q lacks the job's message", err)
	}
}

func TestWaitProgressOnEveryChange(t *testing.T) {
	id := uuid.New()
	st := func(s JobStatus) reply { return reply{status: 200, body: jobJSON(id, JobTypeSampleModel, s, "", "")} }
	srv := newScriptServer(t, st(JobStatusCreated), st(JobStatusCreated), st(JobStatusRunning),
		st(JobStatusRunning), st(JobStatusRunning), reply{status: 200, body: jobJSON(id, JobTypeSampleModel, JobStatusDone, `{"records":[]}`, "")})
	c := newClient(t, srv.URL)
	newFakeClock(time.Now()).install(c, 0)
	var seen []JobStatus
	job, err := c.Wait(t.Context(), JobTypeSampleModel, id, WithProgress(func(j *Job) { seen = append(seen, j.Status) }))
	if err != nil || job.Status != JobStatusDone {
		t.Fatalf("Wait: %+v, %v", job, err)
	}
	if want := []JobStatus{JobStatusCreated, JobStatusRunning, JobStatusDone}; !slices.Equal(seen, want) {
		t.Errorf("progress %v; want %v", seen, want)
	}
	if srv.count() != 6 {
		t.Errorf("%d requests; want 6", srv.count())
	}
}

func TestWaitAlreadyTerminal(t *testing.T) {
	srv := servertest.New(t)
	c := newClient(t, srv.URL, WithAPIKey(srv.UserKey))
	clock := newFakeClock(time.Now())
	clock.install(c, 0)
	id := srv.CreateJob(JobTypeCreateModel)
	srv.Finish(id, map[string]string{"id": "model-1"})
	calls := 0
	job, err := c.Wait(t.Context(), JobTypeCreateModel, id, WithProgress(func(*Job) { calls++ }))
	if err != nil || job.Status != JobStatusDone || calls != 1 || srv.Requests() != 1 || len(clock.slept()) != 0 {
		t.Errorf("Wait: %+v, %v; %d progress calls, %d requests, sleeps %v", job, err, calls, srv.Requests(), clock.slept())
	}
}

// TestWaitContextEnds checks that a wait cut short returns the last job it
// observed and an error wrapping the context's.
func TestWaitContextEnds(t *testing.T) {
	srv := servertest.New(t)
	c := newClient(t, srv.URL, WithAPIKey(srv.UserKey))
	id := srv.CreateJob(JobTypeExportLogs)
	srv.Start(id)

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		job, err := c.Wait(ctx, JobTypeExportLogs, id, fast)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v; want context.DeadlineExceeded", err)
		}
		if job == nil || job.ID != id || job.Status != JobStatusRunning {
			t.Errorf("last job %+v; want the running job", job)
		}
	})
	t.Run("cancelled while sleeping", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		polls := 0
		progress := WithProgress(func(*Job) { polls++; cancel() })
		// A long poll interval: only cancellation can end the sleep.
		job, err := c.Wait(ctx, JobTypeExportLogs, id, WithPollInterval(time.Hour, time.Hour), progress)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "last status running") {
			t.Fatalf("error %v; want context.Canceled", err)
		}
		if job == nil || job.Status != JobStatusRunning || polls != 1 {
			t.Errorf("last job %+v after %d polls", job, polls)
		}
	})
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		job, err := c.Wait(ctx, JobTypeExportLogs, id, fast)
		if job != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("Wait: %+v, %v; want no job and context.Canceled", job, err)
		}
	})
	t.Run("deadline during the first request", func(t *testing.T) {
		srv.SetLatency(time.Hour)
		defer srv.SetLatency(0)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		job, err := c.Wait(ctx, JobTypeExportLogs, id, fast)
		if job != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait: %+v, %v; want no job and context.DeadlineExceeded", job, err)
		}
	})
}

// TestWaitTrimsLastSleep checks, in virtual time, that Wait polls one last time
// just before the deadline instead of sleeping past it.
func TestWaitTrimsLastSleep(t *testing.T) {
	id := uuid.New()
	start := time.Now()
	clock := newFakeClock(start)
	srv := newScriptServer(t, reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusRunning, "", "")})
	var mu sync.Mutex
	var polledAt []time.Duration
	srv.onRequest = func(*http.Request) {
		mu.Lock()
		polledAt = append(polledAt, clock.now().Sub(start))
		mu.Unlock()
		clock.advance(100 * time.Millisecond) // each request takes 100ms
	}
	c := newClient(t, srv.URL)
	clock.install(c, 0)
	// The deadline is real but ten seconds away: virtual time reaches it first.
	ctx, cancel := context.WithDeadline(t.Context(), start.Add(10*time.Second))
	defer cancel()
	job, err := c.Wait(ctx, JobTypeExportLogs, id)
	if !errors.Is(err, context.DeadlineExceeded) || job == nil || job.Status != JobStatusRunning {
		t.Fatalf("Wait: %+v, %v; want the running job and context.DeadlineExceeded", job, err)
	}
	// Polls at 0, 2.1 and 8.2 s, then the delay of 6 s would pass the deadline:
	// sleep until 200ms (two requests' time) before it and poll at 9.8 s.
	want := []time.Duration{0, 2100 * time.Millisecond, 8200 * time.Millisecond, 9800 * time.Millisecond}
	if !slices.Equal(polledAt, want) {
		t.Errorf("polled at %v; want %v", polledAt, want)
	}
	if s := clock.slept(); len(s) != 3 || s[2] != 1500*time.Millisecond {
		t.Errorf("slept %v; want the last sleep trimmed to 1.5s", s)
	}
}

func TestWaitFailsFast(t *testing.T) {
	id := uuid.New()
	running := reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusRunning, "", "")}
	apiErr := func(status int) reply {
		return reply{status: status, body: fmt.Sprintf(`{"status":%d,"message":"x"}`, status)}
	}
	unauthorized := reply{status: 401, body: `{"code":401,"error":"invalid API key","status":"Unauthorized"}`}
	tests := []struct {
		name     string
		typ      JobType
		replies  []reply
		requests int
		want     error
		lastJob  bool
	}{
		{"400", JobTypeExportLogs, []reply{apiErr(400)}, 1, ErrBadRequest, false},
		{"401", JobTypeExportLogs, []reply{unauthorized}, 1, ErrUnauthorized, false},
		{"404", JobTypeExportLogs, []reply{apiErr(404)}, 1, ErrNotFound, false},
		{"unknown type", "nope", []reply{running}, 0, ErrBadRequest, false},
		{"404 after running", JobTypeExportLogs, []reply{running, running, apiErr(404)}, 3, ErrNotFound, true},
		{"401 after running", JobTypeExportLogs, []reply{running, unauthorized}, 2, ErrUnauthorized, true},
		{"persistent 503 after running", JobTypeExportLogs, []reply{running, apiErr(503)}, 1 + DefaultMaxAttempts, ErrServer, true},
		{"malformed 200 after running", JobTypeExportLogs, []reply{running, {status: 200, body: "<html>"}}, 2, ErrMalformedResponse, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, tc.replies...)
			c := newClient(t, srv.URL)
			newFakeClock(time.Now()).install(c, 0)
			job, err := c.Wait(t.Context(), tc.typ, id)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v; want %v", err, tc.want)
			}
			if srv.count() != tc.requests {
				t.Errorf("%d requests; want %d", srv.count(), tc.requests)
			}
			if tc.lastJob != (job != nil) || job != nil && job.Status != JobStatusRunning {
				t.Errorf("job %+v; want the last one observed: %v", job, tc.lastJob)
			}
		})
	}
}

func TestWaitDelays(t *testing.T) {
	id := uuid.New()
	running := func(hint string) reply {
		r := reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusRunning, "", "")}
		if hint != "" {
			r.headers = map[string]string{"Retry-After": hint}
		}
		return r
	}
	done := reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusDone, "", "")}
	s := time.Second
	tests := []struct {
		name    string
		opts    []WaitOption
		hint    string
		u       float64
		want    []time.Duration
		replies int // running replies before done
	}{
		{"defaults, no jitter", nil, "", 0, []time.Duration{2 * s, 6 * s, 6 * s, 6 * s}, 4},
		{"defaults, most jitter", nil, "", 0.99999, []time.Duration{2 * s, 5820 * time.Millisecond, 5820 * time.Millisecond}, 3},
		{"custom interval", []WaitOption{WithPollInterval(time.Second, 10*s)}, "", 0, []time.Duration{s, 3 * s, 9 * s, 10 * s, 10 * s}, 5},
		{"equal bounds", []WaitOption{WithPollInterval(4*s, 4*s)}, "", 0.99, []time.Duration{4 * s, 4 * s, 4 * s}, 3},
		{"hint within bounds", nil, "4", 0.5, []time.Duration{4 * s, 4 * s, 4 * s}, 3},
		{"hint below the minimum", []WaitOption{WithPollInterval(3*s, 6*s)}, "1", 0.5, []time.Duration{3 * s, 3 * s}, 2},
		{"hint above the maximum", []WaitOption{fast}, "2", 0.5, []time.Duration{5 * time.Millisecond, 5 * time.Millisecond}, 2},
		{"malformed hint", nil, "later", 0, []time.Duration{2 * s, 6 * s}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			replies := make([]reply, 0, tc.replies+1)
			for range tc.replies {
				replies = append(replies, running(tc.hint))
			}
			srv := newScriptServer(t, append(replies, done)...)
			c := newClient(t, srv.URL)
			clock := newFakeClock(time.Now())
			clock.install(c, tc.u)
			if _, err := c.Wait(t.Context(), JobTypeExportLogs, id, tc.opts...); err != nil {
				t.Fatal(err)
			}
			got := clock.slept()
			for i := range got {
				got[i] = got[i].Round(time.Millisecond)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("slept %v; want %v", got, tc.want)
			}
		})
	}
}

func TestWaitInvalidPollInterval(t *testing.T) {
	srv := newScriptServer(t, reply{status: 200, body: "{}"})
	c := newClient(t, srv.URL)
	for _, opt := range []WaitOption{WithPollInterval(0, time.Second), WithPollInterval(-time.Second, time.Second), WithPollInterval(2*time.Second, time.Second)} {
		if job, err := c.Wait(t.Context(), JobTypeExportLogs, uuid.New(), opt); job != nil || err == nil || !strings.Contains(err.Error(), "invalid poll interval") {
			t.Errorf("Wait: %v, %v", job, err)
		}
	}
	if srv.count() != 0 {
		t.Errorf("%d requests; want none", srv.count())
	}
}

// TestWaitPollingBudget checks the polling schedule's promise in virtual time
// (no wall clock involved): a job that runs for 60 s without a server hint
// costs at most 12 requests and its end is noticed within 6 s, whatever the
// jitter. BenchmarkWait reports the same figures.
func TestWaitPollingBudget(t *testing.T) {
	const jobTime = 60 * time.Second
	jitters := map[string]func(int) func() float64{
		"none": func(int) func() float64 { return func() float64 { return 0 } },
		"most": func(int) func() float64 { return func() float64 { return 0.9999999 } },
		"random": func(seed int) func() float64 {
			return rand.New(rand.NewPCG(uint64(seed), 42)).Float64
		},
	}
	for name, jitter := range jitters {
		t.Run(name, func(t *testing.T) {
			for seed := range 50 {
				requests, latency := simulateWait(t, jobTime, jitter(seed))
				if requests > 12 || latency > 6*time.Second || latency < 0 {
					t.Fatalf("seed %d: %d requests, noticed %v late; want at most 12 and 6s", seed, requests, latency)
				}
			}
		})
	}
}

// simulateWait waits, in virtual time, for a job that finishes after jobTime
// and returns how many requests that took and how late the end was noticed.
func simulateWait(t *testing.T, jobTime time.Duration, jitter func() float64) (requests int, latency time.Duration) {
	t.Helper()
	var n atomic.Int64
	id := uuid.New()
	start := time.Now()
	clock := newFakeClock(start)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		status := JobStatusRunning
		if clock.now().Sub(start) >= jobTime {
			status = JobStatusDone
		}
		fmt.Fprint(w, jobJSON(id, JobTypeExportLogs, status, "", ""))
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	clock.install(c, 0)
	c.jitter = jitter
	if _, err := c.Wait(t.Context(), JobTypeExportLogs, id); err != nil {
		t.Fatal(err)
	}
	return int(n.Load()), clock.now().Sub(start) - jobTime
}

// TestWaitEndedError: a poll that fails after the context ended reports
// both errors, with one "polyjobs:" prefix.
func TestWaitEndedError(t *testing.T) {
	id := uuid.New()
	poll := fmt.Errorf("polyjobs: get job exportlogs/%s: %w", id, &APIError{StatusCode: 404, Status: "Not Found", Message: "job not found"})
	err := endedWith(JobTypeExportLogs, id, context.DeadlineExceeded, poll)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v does not wrap both errors", err)
	}
	want := fmt.Sprintf("polyjobs: wait for job exportlogs/%s: context deadline exceeded (last error: get job exportlogs/%s: HTTP 404 Not Found: job not found)", id, id)
	if err.Error() != want {
		t.Fatalf("Error() = %q; want %q", err, want)
	}
}
