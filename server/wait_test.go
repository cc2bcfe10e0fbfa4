package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// conditional is a GET of a job with If-None-Match and, if wait is not
// empty, Prefer: wait.
func conditional(path, auth, etag, wait string) *http.Request {
	req := get(path, "Authorization", auth, "If-None-Match", etag)
	if wait != "" {
		req.Header.Set("Prefer", "wait="+wait)
	}
	return req
}

// TestETagAndNotModified: the ETag rules of every job response, and 304s
// that keep the headers a client needs.
func TestETagAndNotModified(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		en := s.env(t)
		acme := en.tenant("acme")
		running := en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())
		done := en.job(acme.org.ID, api.JobTypeExportLogs, store.Finish(nil))
		path := jobPath(running.Type, running.ID)

		first := en.do(get(path, "Authorization", acme.bearer()))
		etag := first.header.Get("ETag")
		if first.status != 200 || !strings.HasPrefix(etag, `"`) {
			t.Fatalf("200 with ETag %q", etag)
		}
		if again := en.do(get(path, "Authorization", acme.basic())); again.header.Get("ETag") != etag {
			t.Fatalf("the same state has ETags %s and %s", etag, again.header.Get("ETag"))
		}
		older := en.do(get(path, "Authorization", acme.bearer(), "X-Polytomic-Version", "2022-12-12"))
		if older.header.Get("ETag") == etag {
			t.Fatal("another API version gives the same ETag: its body may differ")
		}
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			r := en.do(conditional(path, acme.bearer(), inm, ""))
			if r.status != http.StatusNotModified || len(r.body) != 0 {
				t.Fatalf("If-None-Match %s: %d %q; want 304 without a body", inm, r.status, r.body)
			}
			for _, h := range []string{"ETag", "X-Polytomic-Version", "X-Request-Id", "Retry-After"} {
				if r.header.Get(h) == "" {
					t.Errorf("If-None-Match %s: 304 without %s", inm, h)
				}
			}
			if r.header.Get("ETag") != etag || r.header.Get("Preference-Applied") != "" {
				t.Errorf("If-None-Match %s: ETag %q, Preference-Applied %q", inm, r.header.Get("ETag"), r.header.Get("Preference-Applied"))
			}
		}
		for _, inm := range []string{`"other"`, "garbage", etag[:len(etag)-1]} {
			if r := en.do(conditional(path, acme.bearer(), inm, "")); r.status != 200 {
				t.Fatalf("If-None-Match %s: %d; want 200", inm, r.status)
			}
		}
		// A list on several lines is the same list (RFC 9110, 5.3), for
		// If-None-Match and for Prefer.
		lines := get(path, "Authorization", acme.bearer())
		lines.Header.Add("If-None-Match", `"other"`)
		lines.Header.Add("If-None-Match", etag)
		lines.Header.Add("Prefer", "respond-async")
		lines.Header.Add("Prefer", "wait=1")
		if r := en.do(lines); r.status != http.StatusNotModified || r.header.Get("Preference-Applied") != "wait=1" {
			t.Fatalf("If-None-Match and Prefer on two lines each: %d %s, Preference-Applied %q; want a 304 that applied the wait",
				r.status, r.body, r.header.Get("Preference-Applied"))
		}
		// A terminal job never changes: it is not held, and has no Retry-After.
		doneTag := en.do(get(jobPath(done.Type, done.ID), "Authorization", acme.bearer())).header.Get("ETag")
		start := time.Now()
		r := en.do(conditional(jobPath(done.Type, done.ID), acme.bearer(), doneTag, "5"))
		if r.status != http.StatusNotModified || r.header.Get("Preference-Applied") != "" || r.header.Get("Retry-After") != "" || time.Since(start) > 3*time.Second {
			t.Fatalf("waiting on a done job: %d, Preference-Applied %q, Retry-After %q after %v",
				r.status, r.header.Get("Preference-Applied"), r.header.Get("Retry-After"), time.Since(start))
		}
		// Another organization's job stays a 404, whatever the headers.
		globex := en.tenant("globex")
		if r := en.do(conditional(path, globex.bearer(), "*", "1")); r.status != http.StatusNotFound {
			t.Fatalf("another organization's job with If-None-Match: *: %d", r.status)
		}
	})
}

// held is the answer to a request sent in the background, and how long it
// took.
type held struct {
	r    response
	took time.Duration
	err  error // what is wrong with the answer
}

// hold sends req in the background; receive checks its answer.
func hold(en *env, req *http.Request) <-chan held {
	out := make(chan held, 1)
	go func() {
		start := time.Now()
		r, err := en.serve(req)
		out <- held{r, time.Since(start), err}
	}()
	return out
}

// receive waits for a held answer, failing the test when it is wrong.
func receive(t *testing.T, c <-chan held) held {
	t.Helper()
	a := <-c
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a
}

// TestWaitEndsWithTheChange: a held request answers with the new state as
// soon as the job changes through the server's store.
func TestWaitEndsWithTheChange(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		en := s.env(t)
		acme := en.tenant("acme")
		for _, step := range []store.Transition{store.Start(), store.Finish(nil)} {
			job := en.job(acme.org.ID, api.JobTypeExportLogs)
			if step.To == api.JobStatusDone {
				job = en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())
			}
			path := jobPath(job.Type, job.ID)
			etag := en.do(get(path, "Authorization", acme.bearer())).header.Get("ETag")
			answer := hold(en, conditional(path, acme.bearer(), etag, "15"))
			waitFor(t, "the request to be held", func() bool { return waiting(t, en) == 1 })
			changedAt := time.Now()
			if _, err := en.store.Transition(context.Background(), job.ID, step); err != nil {
				t.Fatal(err)
			}
			a := receive(t, answer)
			if a.r.status != 200 || a.r.json(t)["data"].(map[string]any)["status"] != string(step.To) {
				t.Fatalf("to %s: held request got %d %s", step.To, a.r.status, a.r.body)
			}
			if a.r.header.Get("Preference-Applied") != "wait=15" || a.r.header.Get("ETag") == etag {
				t.Fatalf("to %s: Preference-Applied %q, ETag %q (was %s)", step.To, a.r.header.Get("Preference-Applied"), a.r.header.Get("ETag"), etag)
			}
			t.Logf("to %s: the change reached the waiter %v after it was committed", step.To, time.Since(changedAt))
		}
	})
}

// TestWaitSeesAChangeBeforeItJoins: a change committed between the
// request's read of the job and its registering as a waiter notifies no
// waiter; the held request must still see it, not answer 304 for a job that
// is already done.
func TestWaitSeesAChangeBeforeItJoins(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		racy := &changeAfterRead{Store: s.newStore(t)}
		en := newEnv(t, racy, func(c *server.Config) { c.Plain = s.plain })
		acme := en.tenant("acme")
		job := en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())
		path := jobPath(job.Type, job.ID)
		etag := en.do(get(path, "Authorization", acme.bearer())).header.Get("ETag")
		racy.armed.Store(true)
		r := en.do(conditional(path, acme.bearer(), etag, "3"))
		if racy.armed.Load() {
			t.Fatal("the request did not read the job")
		}
		if r.status != 200 || r.json(t)["data"].(map[string]any)["status"] != "done" {
			t.Fatalf("%d %s; want the job done, which it was before the request waited", r.status, r.body)
		}
	})
}

// changeAfterRead finishes a job right after the next read of it, once
// armed: a commit between a request's read and its wait.
type changeAfterRead struct {
	store.Store
	armed atomic.Bool
}

func (s *changeAfterRead) Job(ctx context.Context, orgID, id uuid.UUID) (store.Job, error) {
	job, err := s.Store.Job(ctx, orgID, id)
	if err == nil && s.armed.CompareAndSwap(true, false) {
		if _, err := s.Store.Transition(ctx, id, store.Finish(nil)); err != nil {
			return store.Job{}, err
		}
	}
	return job, err
}

// Subscribe passes the store's notifications on, as the hub needs them.
func (s *changeAfterRead) Subscribe(fn func(uuid.UUID)) (stop func()) {
	return s.Store.(store.ChangeNotifier).Subscribe(fn)
}

// waiting returns the server's polyjobs_waiters gauge.
func waiting(t *testing.T, en *env) float64 {
	t.Helper()
	return gaugeValue(t, en.metrics, "polyjobs_waiters")
}

// TestWaitRunsOut: without a change, a held request answers 304 once its
// wait (capped by MaxWait) has passed, and says how long it applied.
func TestWaitRunsOut(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		en := s.env(t, func(c *server.Config) { c.MaxWait = time.Second })
		acme := en.tenant("acme")
		job := en.job(acme.org.ID, api.JobTypeSampleModel, store.Start())
		path := jobPath(job.Type, job.ID)
		etag := en.do(get(path, "Authorization", acme.bearer())).header.Get("ETag")
		a := receive(t, hold(en, conditional(path, acme.bearer(), etag, "600")))
		if a.r.status != http.StatusNotModified || a.r.header.Get("Preference-Applied") != "wait=1" || a.r.header.Get("ETag") != etag {
			t.Fatalf("%d, Preference-Applied %q, ETag %q; want 304, wait=1, %s", a.r.status, a.r.header.Get("Preference-Applied"), a.r.header.Get("ETag"), etag)
		}
		if a.took < time.Second {
			t.Fatalf("answered after %v, before the applied wait of 1 s", a.took)
		}
		if got := counterValue(t, en.metrics, "polyjobs_waiter_wakes_total"); got != 1 {
			t.Fatalf("%v wakes counted; want 1 (timed out)", got)
		}
	})
}

// TestWaitCaps: over a cap a request is answered at once, without
// Preference-Applied, which sends its client back to polling.
func TestWaitCaps(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t), func(c *server.Config) { c.MaxWaitersPerKey, c.MaxWaiters = 1, 2 })
	acme, globex, initech := en.tenant("acme"), en.tenant("globex"), en.tenant("initech")
	jobs := map[string]store.Job{}
	tags := map[string]string{}
	for name, tn := range map[string]tenant{"acme": acme, "globex": globex, "initech": initech} {
		j := en.job(tn.org.ID, api.JobTypeExportLogs)
		jobs[name] = j
		tags[name] = en.do(get(jobPath(j.Type, j.ID), "Authorization", tn.bearer())).header.Get("ETag")
	}
	first := hold(en, conditional(jobPath(jobs["acme"].Type, jobs["acme"].ID), acme.bearer(), tags["acme"], "15"))
	waitFor(t, "the first request to be held", func() bool { return waiting(t, en) == 1 })
	// The same key again: over its cap.
	r := en.do(conditional(jobPath(jobs["acme"].Type, jobs["acme"].ID), acme.bearer(), tags["acme"], "15"))
	if r.status != http.StatusNotModified || r.header.Get("Preference-Applied") != "" {
		t.Fatalf("over the per-key cap: %d, Preference-Applied %q; want an immediate 304 without it", r.status, r.header.Get("Preference-Applied"))
	}
	second := hold(en, conditional(jobPath(jobs["globex"].Type, jobs["globex"].ID), globex.bearer(), tags["globex"], "15"))
	waitFor(t, "the second request to be held", func() bool { return waiting(t, en) == 2 })
	// Another key, but over the total cap.
	if r := en.do(conditional(jobPath(jobs["initech"].Type, jobs["initech"].ID), initech.bearer(), tags["initech"], "15")); r.header.Get("Preference-Applied") != "" {
		t.Fatal("a request over the total cap was held")
	}
	en.e.EndWaits()
	for _, a := range []held{receive(t, first), receive(t, second)} {
		if a.r.status != http.StatusNotModified || a.r.header.Get("Preference-Applied") != "wait=15" {
			t.Fatalf("at shutdown: %d, Preference-Applied %q; want 304 wait=15", a.r.status, a.r.header.Get("Preference-Applied"))
		}
	}
	if got := counterValue(t, en.metrics, "polyjobs_waiter_wakes_total"); got != 4 {
		t.Fatalf("%v wakes counted; want 4 (2 capped, 2 at shutdown)", got)
	}
}

// TestShutdownAnswersWaiters: shutting the http.Server down answers held
// requests at once, and the server is not held up by them.
func TestShutdownAnswersWaiters(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t))
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs, store.Start())
	srv := server.HTTPServer("", en.e, nil)
	base, served := serveOn(t, srv)
	etag := en.do(get(jobPath(job.Type, job.ID), "Authorization", acme.bearer())).header.Get("ETag")
	answers := make(chan *http.Response, 3)
	for range 3 {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, base+jobPath(job.Type, job.ID), nil)
			req.Header.Set("Authorization", acme.bearer())
			req.Header.Set("If-None-Match", etag)
			req.Header.Set("Prefer", "wait=20")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
			}
			answers <- resp
		}()
	}
	waitFor(t, "three requests to be held", func() bool { return waiting(t, en) == 3 })
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-served
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Shutdown took %v with held requests", took)
	}
	for range 3 {
		if resp := <-answers; resp == nil || resp.StatusCode != http.StatusNotModified {
			t.Fatalf("a held request at shutdown: %v; want 304", resp)
		}
	}
}

// TestHeldRequestCountsOnceAgainstTheRate: holding a request spends one
// token of its key, however long it waits.
func TestHeldRequestCountsOnceAgainstTheRate(t *testing.T) {
	en := newEnv(t, storeFactories["sqlite"](t), func(c *server.Config) { c.Rate, c.Burst, c.MaxWait = 0.01, 2, time.Second })
	acme := en.tenant("acme")
	job := en.job(acme.org.ID, api.JobTypeExportLogs)
	path := jobPath(job.Type, job.ID)
	etag := en.do(get(path, "Authorization", acme.bearer())).header.Get("ETag")                                       // token 1
	if a := receive(t, hold(en, conditional(path, acme.bearer(), etag, "1"))); a.r.status != http.StatusNotModified { // token 2
		t.Fatalf("held request: %d", a.r.status)
	}
	if r := en.do(get(path, "Authorization", acme.bearer())); r.status != http.StatusTooManyRequests {
		t.Fatalf("a third request with a burst of 2: %d; want 429", r.status)
	}
}

// TestWaitSeesAnotherProcessesCommit: a change committed to the SQLite file
// by another connection pool, which this server's store never hears of,
// still ends the wait, through the change token.
func TestWaitSeesAnotherProcessesCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "polyjobs.db")
	mine, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	other, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	for _, plain := range []bool{false, true} {
		en := newEnv(t, mine, func(c *server.Config) { c.Plain = plain })
		acme := en.tenant("acme" + map[bool]string{false: "", true: "-plain"}[plain])
		job := en.job(acme.org.ID, api.JobTypeExportLogs)
		p := jobPath(job.Type, job.ID)
		etag := en.do(get(p, "Authorization", acme.bearer())).header.Get("ETag")
		answer := hold(en, conditional(p, acme.bearer(), etag, "15"))
		waitFor(t, "the request to be held", func() bool { return waiting(t, en) == 1 })
		committed := time.Now()
		if _, err := other.Transition(context.Background(), job.ID, store.Fail("gone")); err != nil {
			t.Fatal(err)
		}
		a := receive(t, answer)
		if a.r.status != 200 || !strings.Contains(string(a.r.body), `"failed"`) {
			t.Fatalf("plain %v: %d %s; want the failed job", plain, a.r.status, a.r.body)
		}
		t.Logf("plain %v: another pool's commit reached the waiter after %v", plain, time.Since(committed))
	}
}
