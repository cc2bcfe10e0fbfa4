package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// authRecorder answers every Get Job request with a done job and records the
// Authorization header of each request it receives, by path.
type authRecorder struct {
	mu   sync.Mutex
	seen map[string][]string
}

func (a *authRecorder) record(r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seen == nil {
		a.seen = map[string][]string{}
	}
	a.seen[r.URL.Path] = append(a.seen[r.URL.Path], r.Header.Get("Authorization"))
}

func (a *authRecorder) authorizations() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var all []string
	for _, v := range a.seen {
		all = append(all, v...)
	}
	return all
}

// jobHandler answers with the done job the path names.
func jobHandler(rec *authRecorder) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		parts := strings.Split(r.URL.Path, "/")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"data":{"job_id":%q,"type":%q,"status":"done","result":null,"error":null}}`, parts[len(parts)-1], parts[len(parts)-2])
	}
}

// TestRedirectsKeepCredentialsAtTheirOrigin follows redirects to the same
// origin, to another port of the same host, to another host name and from
// https to http: only the first may carry the Authorization header.
func TestRedirectsKeepCredentialsAtTheirOrigin(t *testing.T) {
	target := &authRecorder{}
	other := httptest.NewServer(jobHandler(target)) // another port of 127.0.0.1
	t.Cleanup(other.Close)
	otherURL, _ := url.Parse(other.URL)
	byName := "http://localhost:" + otherURL.Port() // the same listener under another host name

	// redirector sends /api/... to location(path) and answers the rest itself.
	redirector := func(rec *authRecorder, location func(path string) string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/api/") {
				rec.record(r)
				http.Redirect(w, r, location(r.URL.Path), http.StatusFound)
				return
			}
			jobHandler(rec)(w, r)
		}
	}
	tests := []struct {
		name      string
		tls       bool
		location  func(self, path string) string
		keepsAuth bool
	}{
		{"same origin", false, func(self, path string) string { return self + "/moved" + path }, true},
		{"same origin, relative", false, func(_, path string) string { return "/moved" + path }, true},
		{"another port", false, func(_, path string) string { return other.URL + path }, false},
		{"another host name", false, func(_, path string) string { return byName + path }, false},
		{"https to http on another port", true, func(_, path string) string { return other.URL + path }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			*target = authRecorder{}
			origin := &authRecorder{}
			var self string
			h := redirector(origin, func(path string) string { return tc.location(self, path) })
			var srv *httptest.Server
			if tc.tls {
				srv = httptest.NewTLSServer(h)
			} else {
				srv = httptest.NewServer(h)
			}
			t.Cleanup(srv.Close)
			self = srv.URL
			hc := srv.Client() // a caller's own client
			c := newClient(t, srv.URL, WithHTTPClient(hc))
			id := uuid.New()
			job, err := c.GetJob(context.Background(), JobTypeExportLogs, id)
			if err != nil || job.Status != JobStatusDone {
				t.Fatalf("GetJob = %+v, %v", job, err)
			}
			if hc.CheckRedirect != nil {
				t.Fatal("New modified the caller's *http.Client")
			}
			landed := append(origin.authorizations(), target.authorizations()...)
			if len(landed) != 2 {
				t.Fatalf("%d requests: %q; want the first and the redirected one", len(landed), landed)
			}
			if landed[0] != "Bearer test-key" {
				t.Fatalf("the first request carried %q", landed[0])
			}
			if got := landed[1] != ""; got != tc.keepsAuth {
				t.Fatalf("the redirected request carried Authorization %q; want it kept: %v", landed[1], tc.keepsAuth)
			}
		})
	}
}

// TestRedirectPolicyOfTheCallersClient: a caller's CheckRedirect still
// decides, after the credentials are dropped, and the default policy stops
// after ten redirects.
func TestRedirectPolicyOfTheCallersClient(t *testing.T) {
	rec := &authRecorder{}
	target := httptest.NewServer(jobHandler(rec))
	t.Cleanup(target.Close)
	redirects := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirects++
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(srv.Close)

	var sawAuth []string
	hc := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		sawAuth = append(sawAuth, req.Header.Get("Authorization"))
		return http.ErrUseLastResponse
	}}
	c := newClient(t, srv.URL, WithHTTPClient(hc), WithRetry(RetryPolicy{MaxAttempts: 1}))
	_, err := c.GetJob(context.Background(), JobTypeExportLogs, uuid.New())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusFound {
		t.Fatalf("GetJob = %v; want the 302 the caller's policy stopped at", err)
	}
	if len(sawAuth) != 1 || sawAuth[0] != "" {
		t.Fatalf("the caller's CheckRedirect saw Authorization %q; want it already dropped", sawAuth)
	}
	if len(rec.authorizations()) != 0 {
		t.Fatal("the redirect was followed despite the caller's policy")
	}

	loop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(loop.Close)
	c = newClient(t, loop.URL, WithRetry(RetryPolicy{MaxAttempts: 1}))
	if _, err := c.GetJob(context.Background(), JobTypeExportLogs, uuid.New()); err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") {
		t.Fatalf("GetJob on a redirect loop = %v", err)
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://app.polytomic.com/x", "https://APP.polytomic.com:443/y", true},
		{"http://127.0.0.1/x", "http://127.0.0.1:80/y", true},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8081/", false},
		{"https://app.polytomic.com/", "http://app.polytomic.com/", false},
		{"https://app.polytomic.com/", "https://eu.app.polytomic.com/", false},
		{"https://app.polytomic.com/", "https://app.polytomic.com:8443/", false},
	}
	for _, tc := range tests {
		a, _ := url.Parse(tc.a)
		b, _ := url.Parse(tc.b)
		if got := sameOrigin(a, b); got != tc.want {
			t.Errorf("sameOrigin(%s, %s) = %v; want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
