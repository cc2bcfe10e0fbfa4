package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/server/servertest"
)

// fakeClock is a virtual clock for the Client's time hooks: sleeping advances
// it at once, so tests and benchmarks can simulate minutes in microseconds.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
	// onSleep, if set, runs after each sleep with the new time.
	onSleep func(now time.Time)
}

func newFakeClock(start time.Time) *fakeClock { return &fakeClock{t: start} }

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func (f *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.t = f.t.Add(max(d, 0))
	f.sleeps = append(f.sleeps, d)
	now, cb := f.t, f.onSleep
	f.mu.Unlock()
	if cb != nil {
		cb(now)
	}
	return nil
}

func (f *fakeClock) slept() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// install makes c use the fake clock and a fixed jitter of u.
func (f *fakeClock) install(c *Client, u float64) {
	c.now, c.sleep = f.now, f.sleep
	c.jitter = func() float64 { return u }
}

// newClient returns a Client for baseURL authenticated with a dummy key,
// failing the test on error.
func newClient(t testing.TB, baseURL string, opts ...Option) *Client {
	t.Helper()
	c, err := New(append([]Option{WithBaseURL(baseURL), WithAPIKey("test-key")}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// reply is one canned response of a scripted server.
type reply struct {
	status  int
	body    string
	headers map[string]string
	abort   bool // drop the connection instead of answering
}

// scriptServer answers requests with the replies in order, repeating the
// last one, and counts the requests.
type scriptServer struct {
	*httptest.Server
	mu       sync.Mutex
	replies  []reply
	n        atomic.Int64
	requests []*http.Request
	// onRequest, if set, runs at the start of every request.
	onRequest func(r *http.Request)
}

func newScriptServer(t testing.TB, replies ...reply) *scriptServer {
	t.Helper()
	s := &scriptServer{replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *scriptServer) serve(w http.ResponseWriter, r *http.Request) {
	i := int(s.n.Add(1)) - 1
	s.mu.Lock()
	s.requests = append(s.requests, r.Clone(context.Background()))
	rep := s.replies[min(i, len(s.replies)-1)]
	hook := s.onRequest
	s.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	if rep.abort {
		panic(http.ErrAbortHandler)
	}
	if _, ok := rep.headers["Content-Type"]; !ok {
		w.Header().Set("Content-Type", "application/json")
	}
	for k, v := range rep.headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write([]byte(rep.body))
}

// count returns how many requests the server has received.
func (s *scriptServer) count() int { return int(s.n.Load()) }

// lastRequest returns the last request the server received.
func (s *scriptServer) lastRequest() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[len(s.requests)-1]
}

// specTransport checks every response it carries against openapi.yaml,
// failing the test on one the contract does not describe (a 304 included).
type specTransport struct {
	t testing.TB
	v *apispec.Validator
}

func (s specTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := apispec.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	if err := s.v.ValidateResponse(r, resp.StatusCode, resp.Header, body); err != nil {
		s.t.Errorf("%s %s: the %d response does not match openapi.yaml: %v", r.Method, r.URL.Path, resp.StatusCode, err)
	}
	return resp, nil
}

// newServerClient returns a Client for the reference server srv with its
// user key, whose responses are all checked against openapi.yaml.
func newServerClient(t testing.TB, srv *servertest.Server, opts ...Option) *Client {
	t.Helper()
	v, err := apispec.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: specTransport{t: t, v: v}}
	return newClient(t, srv.URL, append([]Option{WithAPIKey(srv.UserKey), WithHTTPClient(hc)}, opts...)...)
}

// waitHeld waits until srv holds n requests and, if want is positive, has
// received at least want requests in all. It reports false, failing the
// test, when that does not happen within 10 s; it may run on any goroutine.
func waitHeld(t testing.TB, srv *servertest.Server, n int, want int64) bool {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); srv.Waiting() != n || srv.Requests() < want; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the server never held %d requests after %d in all (holds %d after %d)", n, want, srv.Waiting(), srv.Requests())
			return false
		}
	}
	return true
}
