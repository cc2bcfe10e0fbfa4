package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/internal/apispec"
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
	t.Run("cancelled while held", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		before := srv.Requests()
		go func() {
			if waitHeld(t, srv, 1, before+2) {
				cancel()
			}
		}()
		job, err := c.Wait(ctx, JobTypeExportLogs, id, fast)
		want := fmt.Sprintf("polyjobs: wait for job exportlogs/%s: context canceled (last status running)", id)
		if !errors.Is(err, context.Canceled) || err.Error() != want {
			t.Fatalf("error %q; want %q", err, want)
		}
		if job == nil || job.Status != JobStatusRunning || srv.Requests()-before != 2 {
			t.Errorf("last job %+v after %d requests; want the running job after 2", job, srv.Requests()-before)
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

func TestWaitInvalidOptions(t *testing.T) {
	srv := newScriptServer(t, reply{status: 200, body: "{}"})
	c := newClient(t, srv.URL)
	for _, tc := range []struct {
		opt  WaitOption
		want string
	}{
		{WithPollInterval(0, time.Second), "invalid poll interval"},
		{WithPollInterval(-time.Second, time.Second), "invalid poll interval"},
		{WithPollInterval(2*time.Second, time.Second), "invalid poll interval"},
		{WithLongPoll(-time.Second), "invalid long-poll wait -1s"},
		{WithLongPoll(500 * time.Millisecond), "invalid long-poll wait 500ms"},
	} {
		if job, err := c.Wait(t.Context(), JobTypeExportLogs, uuid.New(), tc.opt); job != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Wait: %v, %v; want %q", job, err, tc.want)
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

// TestWaitLongPoll: against the reference server, each change of the job
// ends the request held at the time with the new state, and Wait asks again
// at once: after the first poll, a wait costs one request per change.
func TestWaitLongPoll(t *testing.T) {
	finish := func(srv *servertest.Server, id uuid.UUID) {
		srv.Finish(id, map[string]string{"url": "https://example.com/x"})
	}
	start := func(srv *servertest.Server, id uuid.UUID) { srv.Start(id) }
	fail := func(srv *servertest.Server, id uuid.UUID) { srv.Fail(id, "warehouse unreachable") }
	tests := []struct {
		name    string
		running bool // the job runs before Wait starts
		changes []func(*servertest.Server, uuid.UUID)
		seen    []JobStatus
	}{
		{"done", true, []func(*servertest.Server, uuid.UUID){finish}, []JobStatus{JobStatusRunning, JobStatusDone}},
		{"every status", false, []func(*servertest.Server, uuid.UUID){start, finish}, []JobStatus{JobStatusCreated, JobStatusRunning, JobStatusDone}},
		{"failed", true, []func(*servertest.Server, uuid.UUID){fail}, []JobStatus{JobStatusRunning, JobStatusFailed}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := servertest.New(t, servertest.WithPollHint(-1))
			c := newServerClient(t, srv)
			id := srv.CreateJob(JobTypeExportLogs)
			if tc.running {
				srv.Start(id)
			}
			go func() {
				for i, change := range tc.changes {
					// The first poll, then one held request per change.
					if !waitHeld(t, srv, 1, int64(i+2)) {
						return
					}
					change(srv, id)
				}
			}()
			// Sleeps are instant and counted: Wait sleeps after its first
			// poll, then only asks again at once.
			var sleeps []time.Duration
			c.sleep = func(ctx context.Context, d time.Duration) error {
				sleeps = append(sleeps, d)
				return ctx.Err()
			}
			var seen []JobStatus
			job, err := c.Wait(t.Context(), JobTypeExportLogs, id, WithProgress(func(j *Job) { seen = append(seen, j.Status) }))
			if last := tc.seen[len(tc.seen)-1]; job == nil || job.Status != last || (last == JobStatusFailed) != (err != nil) {
				t.Fatalf("Wait: %+v, %v; want a %s job", job, err, last)
			}
			if !slices.Equal(seen, tc.seen) {
				t.Errorf("progress %v; want %v", seen, tc.seen)
			}
			if n := srv.Requests(); n != int64(1+len(tc.changes)) || job.WaitApplied != server20s {
				t.Errorf("%d requests, the last held for up to %v; want %d and 20s", n, job.WaitApplied, 1+len(tc.changes))
			}
			if want := []time.Duration{DefaultMinPollInterval}; !slices.Equal(sleeps, want) {
				t.Errorf("slept %v; want %v (after the first poll only)", sleeps, want)
			}
		})
	}
}

// server20s is the reference server's default cap on a held request.
const server20s = 20 * time.Second

// fakeJobServer serves the job id, done once clock passes jobTime after
// start: with an ETag when etag is set, but ignoring If-None-Match and
// Prefer. It returns its URL and a count of the requests it received.
func fakeJobServer(t *testing.T, clock *fakeClock, id uuid.UUID, start time.Time, jobTime time.Duration, etag bool) (string, func() int) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		status := JobStatusRunning
		if clock.now().Sub(start) >= jobTime {
			status = JobStatusDone
		}
		if etag {
			w.Header().Set("ETag", `"`+string(status)+`"`)
		}
		fmt.Fprint(w, jobJSON(id, JobTypeExportLogs, status, "", ""))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() int { return int(n.Load()) }
}

// referenceServer is servertest, with options, finishing the job once the
// clock passes jobTime; its responses are checked against openapi.yaml.
func referenceServer(t *testing.T, clock *fakeClock, start time.Time, jobTime time.Duration, rt func(http.RoundTripper) http.RoundTripper, opts ...servertest.Option) (string, uuid.UUID, []Option, func() int) {
	srv := servertest.New(t, append([]servertest.Option{servertest.WithPollHint(-1)}, opts...)...)
	id := srv.CreateJob(JobTypeExportLogs)
	srv.Start(id)
	finished := false
	clock.onSleep = func(now time.Time) {
		if !finished && now.Sub(start) >= jobTime {
			srv.Finish(id, map[string]string{"url": "https://example.com/logs.gz"})
			finished = true
		}
	}
	v, err := apispec.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	var tr http.RoundTripper = specTransport{t: t, v: v}
	if rt != nil {
		tr = rt(tr)
	}
	return srv.URL, id, []Option{WithAPIKey(srv.UserKey), WithHTTPClient(&http.Client{Transport: tr})}, func() int { return int(srv.Requests()) }
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// preferLog records the Prefer header of every request it carries.
type preferLog struct {
	mu      sync.Mutex
	prefers []string
}

func (l *preferLog) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.prefers = append(l.prefers, r.Header.Get("Prefer"))
		l.mu.Unlock()
		return next.RoundTrip(r)
	})
}

// TestWaitLongPollFallback: against a server that does not hold requests,
// a Wait that asks it to sends exactly the requests, at exactly the times,
// of a Wait that does not ask: today's polling, 12 requests for a 60 s job.
func TestWaitLongPollFallback(t *testing.T) {
	const jobTime = 60 * time.Second
	fake := func(etag bool) func(*testing.T, *fakeClock, time.Time, *preferLog) (string, uuid.UUID, []Option, func() int) {
		return func(t *testing.T, clock *fakeClock, start time.Time, log *preferLog) (string, uuid.UUID, []Option, func() int) {
			id := uuid.New()
			url, count := fakeJobServer(t, clock, id, start, jobTime, etag)
			return url, id, []Option{WithHTTPClient(&http.Client{Transport: log.wrap(http.DefaultTransport)})}, count
		}
	}
	servers := []struct {
		name string
		asks bool // a Wait that long-polls sends it Prefer
		// run starts the server; the Client gets the options it returns.
		run func(t *testing.T, clock *fakeClock, start time.Time, log *preferLog) (string, uuid.UUID, []Option, func() int)
	}{
		{"reference server that never holds", true, func(t *testing.T, clock *fakeClock, start time.Time, log *preferLog) (string, uuid.UUID, []Option, func() int) {
			return referenceServer(t, clock, start, jobTime, log.wrap, servertest.WithMaxWait(-1))
		}},
		{"proxy that drops Prefer", true, func(t *testing.T, clock *fakeClock, start time.Time, log *preferLog) (string, uuid.UUID, []Option, func() int) {
			drop := func(next http.RoundTripper) http.RoundTripper {
				return log.wrap(roundTripFunc(func(r *http.Request) (*http.Response, error) {
					r = r.Clone(r.Context())
					r.Header.Del("Prefer")
					return next.RoundTrip(r)
				}))
			}
			return referenceServer(t, clock, start, jobTime, drop)
		}},
		{"server that ignores If-None-Match", true, fake(true)},
		{"server without ETags (Polytomic)", false, fake(false)},
	}
	// run waits, in virtual time, and returns the requests, how late the end
	// was noticed, the sleeps, and the Prefer header of each request.
	run := func(t *testing.T, srvIndex int, seed uint64, opts ...WaitOption) (int, time.Duration, []time.Duration, []string) {
		start := time.Now()
		clock := newFakeClock(start)
		log := &preferLog{}
		url, id, copts, count := servers[srvIndex].run(t, clock, start, log)
		c := newClient(t, url, copts...)
		clock.install(c, 0)
		c.jitter = rand.New(rand.NewPCG(seed, 42)).Float64
		job, err := c.Wait(t.Context(), JobTypeExportLogs, id, opts...)
		if err != nil || job.Status != JobStatusDone {
			t.Fatalf("Wait: %+v, %v", job, err)
		}
		return count(), clock.now().Sub(start) - jobTime, clock.slept(), log.prefers
	}
	for i, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			for seed := range uint64(5) {
				n, late, sleeps, prefers := run(t, i, seed)
				plainN, plainLate, plainSleeps, plainPrefers := run(t, i, seed, WithLongPoll(0))
				if n != plainN || late != plainLate || !slices.Equal(sleeps, plainSleeps) {
					t.Fatalf("seed %d: %d requests, %v late, slept %v; without long-polling %d, %v, %v", seed, n, late, sleeps, plainN, plainLate, plainSleeps)
				}
				if n > 12 || late > 6*time.Second {
					t.Fatalf("seed %d: %d requests, noticed %v late; want at most 12 and 6s", seed, n, late)
				}
				asked := slices.ContainsFunc(prefers, func(p string) bool { return p != "" })
				if asked != s.asks || slices.ContainsFunc(plainPrefers, func(p string) bool { return p != "" }) {
					t.Fatalf("seed %d: Prefer sent %q; without long-polling %q", seed, prefers, plainPrefers)
				}
			}
		})
	}
}

// TestWaitHeldThenNotModified: a server that says it holds requests but
// answers each with a 304. Wait keeps going, asks for no wait that would
// outlast the context, and returns the last job at the deadline; when the
// server answers at once although it says it held, Wait polls as it would
// without long-polling instead of spinning.
func TestWaitHeldThenNotModified(t *testing.T) {
	const deadlineIn = 65 * time.Second
	tests := []struct {
		name    string
		holds   bool // the server takes the wait it announces
		prefers []string
	}{
		{"holds", true, []string{"", "wait=30", "wait=30", "wait=21", "wait=2", ""}},
		{"answers at once", false, nil},
	}
	// run waits in virtual time until the deadline and returns the Prefer
	// header of each request.
	run := func(t *testing.T, holds bool, opts ...WaitOption) []string {
		id := uuid.New()
		start := time.Now()
		clock := newFakeClock(start)
		var mu sync.Mutex
		var prefers []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			prefers = append(prefers, r.Header.Get("Prefer"))
			mu.Unlock()
			w.Header().Set("ETag", `"r"`)
			if r.Header.Get("If-None-Match") != `"r"` {
				fmt.Fprint(w, jobJSON(id, JobTypeExportLogs, JobStatusRunning, "", ""))
				return
			}
			if secs, err := strconv.Atoi(strings.TrimPrefix(r.Header.Get("Prefer"), "wait=")); err == nil {
				applied := min(time.Duration(secs)*time.Second, server20s)
				if holds {
					clock.advance(applied)
				}
				w.Header().Set("Preference-Applied", fmt.Sprintf("wait=%d", int(applied/time.Second)))
			}
			w.WriteHeader(http.StatusNotModified)
		}))
		defer srv.Close()
		c := newClient(t, srv.URL)
		clock.install(c, 0)
		// The deadline is real but a minute away: virtual time reaches it first.
		ctx, cancel := context.WithDeadline(t.Context(), start.Add(deadlineIn))
		defer cancel()
		job, err := c.Wait(ctx, JobTypeExportLogs, id, opts...)
		if !errors.Is(err, context.DeadlineExceeded) || job == nil || job.Status != JobStatusRunning || job.ETag != `"r"` {
			t.Fatalf("Wait: %+v, %v; want the running job and context.DeadlineExceeded", job, err)
		}
		if over := clock.now().Sub(start) - deadlineIn; over > 0 {
			t.Fatalf("the wait ended %v after the deadline", over)
		}
		return prefers
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefers := run(t, tc.holds)
			if tc.prefers != nil && !slices.Equal(prefers, tc.prefers) {
				t.Errorf("Prefer %q; want %q", prefers, tc.prefers)
			}
			if !tc.holds {
				if plain := run(t, false, WithLongPoll(0)); len(prefers) != len(plain) {
					t.Errorf("%d requests; without long-polling %d", len(prefers), len(plain))
				}
			}
		})
	}
}

// TestWaitLongPollCut: when a held request is cut on the way (a proxy's
// 502), the retry asks for no wait and Wait polls for the rest of the call.
func TestWaitLongPollCut(t *testing.T) {
	id := uuid.New()
	etag := map[string]string{"ETag": `"r"`}
	srv := newScriptServer(t,
		reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusRunning, "", ""), headers: etag},
		reply{status: 502, body: "<html>Bad Gateway</html>", headers: map[string]string{"Content-Type": "text/html"}},
		reply{status: 304, headers: etag},
		reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusDone, "", ""), headers: map[string]string{"ETag": `"d"`}})
	c := newClient(t, srv.URL)
	newFakeClock(time.Now()).install(c, 0)
	job, err := c.Wait(t.Context(), JobTypeExportLogs, id)
	if err != nil || job.Status != JobStatusDone {
		t.Fatalf("Wait: %+v, %v", job, err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var got []string
	for _, r := range srv.requests {
		got = append(got, r.Header.Get("If-None-Match")+" "+r.Header.Get("Prefer"))
	}
	want := []string{" ", `"r" wait=30`, `"r" `, " "}
	if !slices.Equal(got, want) {
		t.Fatalf("requests (If-None-Match Prefer) %q; want %q", got, want)
	}
}

// TestWaitFlippingStatusPauses: once a server has held a request, a change
// it answers at once is asked about again at once, but not twice in a row: a
// server (or a balancer over lagging replicas) whose answers flip between
// statuses must not have Wait ask without pause.
func TestWaitFlippingStatusPauses(t *testing.T) {
	id := uuid.New()
	const doneAt = 40
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		status := []string{"created", "running"}[i%2]
		if i >= doneAt {
			status = "done"
		}
		if i == 1 {
			w.Header().Set("Preference-Applied", "wait=20") // the server holds
		}
		w.Header().Set("ETag", fmt.Sprintf(`"%d"`, i))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"data":{"job_id":%q,"type":"exportlogs","status":%q,"result":null,"error":null}}`, id, status)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	var sleeps atomic.Int64
	c.sleep = func(ctx context.Context, _ time.Duration) error {
		sleeps.Add(1)
		return ctx.Err()
	}
	job, err := c.Wait(t.Context(), JobTypeExportLogs, id)
	if err != nil || job.Status != JobStatusDone {
		t.Fatalf("Wait: %+v, %v", job, err)
	}
	// The first answer (held) and the next are followed at once; from
	// then on, every other request waits its turn.
	if requests, slept := n.Load(), sleeps.Load(); slept < (requests-2)/2 {
		t.Fatalf("%d requests and only %d pauses: Wait asked again at once after changes in a row", requests, slept)
	}
}
