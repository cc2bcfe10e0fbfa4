package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/servertest"
)

func TestRetryCounts(t *testing.T) {
	id := uuid.New()
	ok := reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusRunning, "", "")}
	fail := func(status int) reply {
		return reply{status: status, body: `{"status":` + strconv.Itoa(status) + `,"message":"x"}`}
	}
	tests := []struct {
		name     string
		policy   RetryPolicy
		replies  []reply
		requests int
		wantErr  error // nil: success
		wantNote string
	}{
		{"success", RetryPolicy{}, []reply{ok}, 1, nil, ""},
		{"503 then success", RetryPolicy{}, []reply{fail(503), ok}, 2, nil, ""},
		{"two 500s then success", RetryPolicy{}, []reply{fail(500), fail(500), ok}, 3, nil, ""},
		{"408 is retried", RetryPolicy{}, []reply{fail(408), ok}, 2, nil, ""},
		{"429 is retried", RetryPolicy{}, []reply{fail(429), ok}, 2, nil, ""},
		{"502 is retried", RetryPolicy{}, []reply{fail(502), ok}, 2, nil, ""},
		{"504 is retried", RetryPolicy{}, []reply{fail(504), ok}, 2, nil, ""},
		{"dropped connection is retried", RetryPolicy{}, []reply{{abort: true}, ok}, 2, nil, ""},
		{"persistent 503", RetryPolicy{}, []reply{fail(503)}, 3, ErrServer, "gave up after 3 attempts"},
		{"persistent 429", RetryPolicy{}, []reply{fail(429)}, 3, ErrRateLimited, "gave up after 3 attempts"},
		{"five attempts", RetryPolicy{MaxAttempts: 5}, []reply{fail(500), fail(502), fail(503), fail(504), ok}, 5, nil, ""},
		{"retries disabled", RetryPolicy{MaxAttempts: 1}, []reply{fail(503), ok}, 1, ErrServer, ""},
		{"400 is final", RetryPolicy{}, []reply{fail(400), ok}, 1, ErrBadRequest, ""},
		{"401 is final", RetryPolicy{}, []reply{fail(401), ok}, 1, ErrUnauthorized, ""},
		{"404 is final", RetryPolicy{}, []reply{fail(404), ok}, 1, ErrNotFound, ""},
		{"403 is final", RetryPolicy{}, []reply{fail(403), ok}, 1, nil, ""},
		{"501 is final", RetryPolicy{}, []reply{fail(501), ok}, 1, ErrServer, ""},
		{"malformed 200 is final", RetryPolicy{}, []reply{{status: 200, body: "{"}, ok}, 1, ErrMalformedResponse, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, tc.replies...)
			c := newClient(t, srv.URL, WithRetry(tc.policy))
			clock := newFakeClock(time.Now())
			clock.install(c, 0.5)
			job, err := c.GetJob(t.Context(), JobTypeExportLogs, id)
			if srv.count() != tc.requests {
				t.Errorf("%d requests; want %d", srv.count(), tc.requests)
			}
			if got := len(clock.slept()); got != tc.requests-1 {
				t.Errorf("%d sleeps; want %d", got, tc.requests-1)
			}
			wantSuccess := tc.wantErr == nil && tc.replies[min(tc.requests, len(tc.replies))-1].status == 200
			if wantSuccess {
				if err != nil || job == nil {
					t.Fatalf("GetJob: %v", err)
				}
				return
			}
			if err == nil || job != nil {
				t.Fatalf("GetJob succeeded: %+v", job)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v; want %v", err, tc.wantErr)
			}
			if tc.wantNote != "" && !strings.Contains(err.Error(), tc.wantNote) {
				t.Errorf("error %q does not say %q", err, tc.wantNote)
			}
		})
	}
}

func TestRetryNetworkErrors(t *testing.T) {
	srv := newScriptServer(t, reply{abort: true})
	c := newClient(t, srv.URL)
	newFakeClock(time.Now()).install(c, 0)
	_, err := c.GetJob(t.Context(), JobTypeExportLogs, uuid.New())
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		t.Fatalf("error %v does not wrap a *url.Error", err)
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		t.Errorf("network error %v is an APIError", err)
	}
	if srv.count() != 3 || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("%d requests, error %q; want 3 attempts", srv.count(), err)
	}

	// Nothing listens on a closed server's address.
	srv.Close()
	_, err = c.GetJob(t.Context(), JobTypeExportLogs, uuid.New())
	if !errors.As(err, &urlErr) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("connection refused: %v", err)
	}
}

func TestRetryBackoff(t *testing.T) {
	id := uuid.New()
	srv := newScriptServer(t, reply{status: 503, body: `{"status":503,"message":"x"}`})
	policy := RetryPolicy{MaxAttempts: 6, MinDelay: 100 * time.Millisecond, MaxDelay: 500 * time.Millisecond}
	for _, tc := range []struct {
		u    float64
		want []time.Duration
	}{
		{0, []time.Duration{100, 100, 100, 100, 100}},
		{0.5, []time.Duration{150, 250, 300, 300, 300}},
		{0.999999999, []time.Duration{200, 400, 500, 500, 500}},
	} {
		c := newClient(t, srv.URL, WithRetry(policy))
		clock := newFakeClock(time.Now())
		clock.install(c, tc.u)
		if _, err := c.GetJob(t.Context(), JobTypeExportLogs, id); !errors.Is(err, ErrServer) {
			t.Fatal(err)
		}
		got := clock.slept()
		for i := range got {
			got[i] = got[i].Round(time.Millisecond) / time.Millisecond
		}
		if len(got) != len(tc.want) {
			t.Fatalf("u=%v: sleeps %v; want %v", tc.u, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("u=%v: sleeps (ms) %v; want %v", tc.u, got, tc.want)
				break
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	id := uuid.New()
	start := time.Date(2025, 9, 18, 12, 0, 0, 0, time.UTC)
	ok := reply{status: 200, body: jobJSON(id, JobTypeExportLogs, JobStatusRunning, "", "")}
	limited := func(retryAfter string) reply {
		return reply{status: 429, body: `{"status":429,"message":"slow down"}`, headers: map[string]string{"Retry-After": retryAfter}}
	}
	backoff := DefaultMinRetryDelay + (2*DefaultMinRetryDelay-DefaultMinRetryDelay)/2 // u = 0.5
	tests := []struct {
		name       string
		replies    []reply
		policy     RetryPolicy
		requests   int
		sleep      time.Duration // the one sleep, if requests == 2
		retryAfter time.Duration // of the final error, if requests == 1
	}{
		{"seconds", []reply{limited("3"), ok}, RetryPolicy{}, 2, 3 * time.Second, 0},
		{"HTTP date", []reply{limited(start.Add(20 * time.Second).Format(http.TimeFormat)), ok}, RetryPolicy{}, 2, 20 * time.Second, 0},
		{"HTTP date in the past", []reply{limited(start.Add(-time.Hour).Format(http.TimeFormat)), ok}, RetryPolicy{}, 2, backoff, 0},
		{"zero seconds", []reply{limited("0"), ok}, RetryPolicy{}, 2, backoff, 0},
		{"malformed", []reply{limited("soon"), ok}, RetryPolicy{}, 2, backoff, 0},
		{"on a 503", []reply{{status: 503, body: "down", headers: map[string]string{"Retry-After": "5"}}, ok}, RetryPolicy{}, 2, 5 * time.Second, 0},
		{"exactly the cap", []reply{limited("30"), ok}, RetryPolicy{}, 2, 30 * time.Second, 0},
		{"over the default cap", []reply{limited("31"), ok}, RetryPolicy{}, 1, 0, 31 * time.Second},
		{"HTTP date over the cap", []reply{limited(start.Add(time.Hour).Format(http.TimeFormat)), ok}, RetryPolicy{}, 1, 0, time.Hour},
		{"over a custom cap", []reply{limited("3"), ok}, RetryPolicy{MaxRetryAfter: 2 * time.Second}, 1, 0, 3 * time.Second},
		{"under a custom cap", []reply{limited("90"), ok}, RetryPolicy{MaxRetryAfter: 2 * time.Minute}, 2, 90 * time.Second, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, tc.replies...)
			c := newClient(t, srv.URL, WithRetry(tc.policy))
			clock := newFakeClock(start)
			clock.install(c, 0.5)
			job, err := c.GetJob(t.Context(), JobTypeExportLogs, id)
			if srv.count() != tc.requests {
				t.Fatalf("%d requests; want %d (error %v)", srv.count(), tc.requests, err)
			}
			if tc.requests == 2 {
				if err != nil || job == nil {
					t.Fatal(err)
				}
				if s := clock.slept(); len(s) != 1 || s[0] != tc.sleep {
					t.Errorf("slept %v; want [%v]", s, tc.sleep)
				}
				return
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.RetryAfter != tc.retryAfter {
				t.Fatalf("error %v; want an APIError with RetryAfter %v", err, tc.retryAfter)
			}
			if !strings.Contains(err.Error(), "exceeds MaxRetryAfter") || len(clock.slept()) != 0 {
				t.Errorf("error %q, sleeps %v", err, clock.slept())
			}
		})
	}
}

// TestRetryAfterServertest checks Retry-After end to end with the reference
// server's fault injection.
func TestRetryAfterServertest(t *testing.T) {
	srv := servertest.New(t)
	c := newClient(t, srv.URL, WithAPIKey(srv.UserKey))
	clock := newFakeClock(time.Now())
	clock.install(c, 0)
	id := srv.CreateJob(JobTypeConnectionProxy)

	srv.FailNext(2, http.StatusTooManyRequests, 4*time.Second)
	job, err := c.GetJob(t.Context(), JobTypeConnectionProxy, id)
	if err != nil || job.Status != JobStatusCreated {
		t.Fatalf("GetJob: %+v, %v", job, err)
	}
	if s := clock.slept(); len(s) != 2 || s[0] != 4*time.Second || s[1] != 4*time.Second || srv.Requests() != 3 {
		t.Errorf("slept %v over %d requests; want [4s 4s] over 3", s, srv.Requests())
	}

	date := clock.now().Add(10 * time.Second).UTC().Format(http.TimeFormat)
	srv.FailNextWithRetryAfter(1, http.StatusServiceUnavailable, date)
	if _, err := c.GetJob(t.Context(), JobTypeConnectionProxy, id); err != nil {
		t.Fatal(err)
	}
	// An HTTP date has a resolution of a second.
	if s := clock.slept(); len(s) != 3 || s[2] <= 9*time.Second || s[2] > 10*time.Second {
		t.Errorf("slept %v; want about 10s last", s)
	}
}

func TestRetryStopsBeforeDeadline(t *testing.T) {
	srv := newScriptServer(t, reply{status: 503, body: "busy", headers: map[string]string{"Retry-After": "20"}})
	c := newClient(t, srv.URL)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.GetJob(ctx, JobTypeExportLogs, uuid.New())
	if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "would pass the context deadline") {
		t.Fatalf("error %v; want the 503 without waiting", err)
	}
	if srv.count() != 1 || ctx.Err() != nil {
		t.Errorf("%d requests, context %v", srv.count(), ctx.Err())
	}
}

// TestRetryCancelledWhileSleeping cancels the context while the client sleeps
// for an hour's Retry-After: GetJob must return at once (the test would time
// out otherwise) with both the cancellation and the last error.
func TestRetryCancelledWhileSleeping(t *testing.T) {
	srv := newScriptServer(t, reply{status: 503, body: `{"status":503,"message":"maintenance"}`, headers: map[string]string{"Retry-After": "3600"}})
	c := newClient(t, srv.URL, WithRetry(RetryPolicy{MaxRetryAfter: 2 * time.Hour}))
	sleeping := make(chan time.Duration, 1)
	c.sleep = func(ctx context.Context, d time.Duration) error {
		sleeping <- d
		return sleepContext(ctx, d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-sleeping
		cancel()
	}()
	_, err := c.GetJob(ctx, JobTypeExportLogs, uuid.New())
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrServer) {
		t.Fatalf("error %v; want context.Canceled and the 503", err)
	}
	if srv.count() != 1 {
		t.Errorf("%d requests; want 1", srv.count())
	}
}

func TestRetryNotAfterCancellation(t *testing.T) {
	srv := newScriptServer(t, reply{status: 200, body: "{}"})
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv.onRequest = func(*http.Request) {
		arrived <- struct{}{}
		<-release
	}
	c := newClient(t, srv.URL)
	clock := newFakeClock(time.Now())
	clock.install(c, 0)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived // the request is in flight
		cancel()
	}()
	_, err := c.GetJob(ctx, JobTypeExportLogs, uuid.New())
	close(release)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v; want context.Canceled", err)
	}
	if srv.count() != 1 || len(clock.slept()) != 0 {
		t.Errorf("%d requests, sleeps %v; a cancelled request is not retried", srv.count(), clock.slept())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 9, 18, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"3600", time.Hour, true},
		{"99999999999999999999", time.Duration(1<<63 - 1).Truncate(time.Second), true},
		{"-5", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"Thu, 18 Sep 2025 12:00:30 GMT", 30 * time.Second, true},
		{"Thursday, 18-Sep-25 12:01:00 GMT", time.Minute, true},
		{"Thu Sep 18 12:02:00 2025", 2 * time.Minute, true},
		{"Thu, 18 Sep 2025 11:00:00 GMT", 0, true},
	}
	for _, tc := range tests {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSleepContext(t *testing.T) {
	if err := sleepContext(t.Context(), 0); err != nil {
		t.Error(err)
	}
	if err := sleepContext(t.Context(), time.Microsecond); err != nil {
		t.Error(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := sleepContext(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled hour-long sleep: %v", err)
	}
}
