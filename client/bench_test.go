package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/servertest"
)

// BenchmarkWait waits for jobs of several lengths against a reference
// server that does not hold requests (servertest.WithMaxWait(-1)) and sends
// no Retry-After hint, in virtual time: the client's clock hooks make every
// sleep instant and finish the job once virtual time passes its length. The
// Client has its defaults, long-polling included, so this is what the SDK
// costs against a server without the feature: the polling path. It reports
// the requests a wait costs and how late it notices the job's end; ns/op is
// the real cost of those requests. The jitter is seeded per iteration, so
// the figures are reproducible. BenchmarkWaitLongPoll measures the same SDK
// against a server that holds requests.
//
// Target for the 60 s job: at most 12 requests, noticed at most 6 s late.
func BenchmarkWait(b *testing.B) {
	for _, bc := range []struct {
		name    string
		jobTime time.Duration
	}{
		{"job=5s", 5 * time.Second},
		{"job=60s", 60 * time.Second},
		{"job=10m", 10 * time.Minute},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := servertest.New(b, servertest.WithPollHint(-1), servertest.WithMaxWait(-1))
			c := newClient(b, srv.URL, WithAPIKey(srv.UserKey))
			var (
				runs, requests, maxRequests int
				latency, maxLatency         time.Duration
			)
			for b.Loop() {
				id := srv.CreateJob(JobTypeExportLogs)
				srv.Start(id)
				start := time.Date(2025, 9, 18, 0, 0, 0, 0, time.UTC)
				clock := newFakeClock(start)
				finished := false
				clock.onSleep = func(now time.Time) {
					if !finished && now.Sub(start) >= bc.jobTime {
						srv.Finish(id, map[string]string{"url": "https://example.com/logs.gz"})
						finished = true
					}
				}
				clock.install(c, 0)
				c.jitter = rand.New(rand.NewPCG(1, uint64(runs))).Float64
				before := srv.Requests()
				job, err := c.Wait(b.Context(), JobTypeExportLogs, id)
				if err != nil || job.Status != JobStatusDone {
					b.Fatalf("Wait: %+v, %v", job, err)
				}
				n := int(srv.Requests() - before)
				late := clock.now().Sub(start) - bc.jobTime
				runs++
				requests += n
				latency += late
				maxRequests = max(maxRequests, n)
				maxLatency = max(maxLatency, late)
			}
			b.ReportMetric(float64(requests)/float64(runs), "requests/op")
			b.ReportMetric(float64(maxRequests), "max-requests")
			b.ReportMetric(latency.Seconds()/float64(runs), "latency-s/op")
			b.ReportMetric(maxLatency.Seconds(), "max-latency-s")
			if bc.jobTime == time.Minute && (maxRequests > 12 || maxLatency > 6*time.Second) {
				b.Errorf("a 60 s job cost up to %d requests and was noticed up to %v late; want at most 12 and 6s", maxRequests, maxLatency)
			}
		})
	}
}

// BenchmarkWaitLongPoll waits, in real time, for jobs against the reference
// server, which holds requests until the job changes: each op waits for
// waitJobs running jobs at once, each finishing 60 s after the wait began
// (plus a few milliseconds, so that they finish one by one). It reports the
// requests a wait costs and how late the end was seen: from just before the
// job's transition to Wait's return, so the figures include the commit, the
// server's wake-up and the answer's trip.
//
// A 60 s job takes 60 s, so by default everything is scaled down 20 times:
// the job runs 3 s, the server holds a request for at most 1 s (its default
// is 20 s) and the client's polling bounds and wait shrink alike. The
// request count is the same at both scales; lateness does not depend on the
// scale, since the end is seen by a request held at the time. Set
// POLYJOBS_BENCH_REALTIME=1 to run the 60 s job at full scale as well.
//
// Target for the 60 s job: at most 4 requests, the end seen at most 100 ms
// late at p95.
func BenchmarkWaitLongPoll(b *testing.B) {
	const (
		jobTime  = 60 * time.Second
		waitJobs = 20
	)
	for _, scale := range []int{20, 1} {
		b.Run(fmt.Sprintf("job=60s,scale=1:%d", scale), func(b *testing.B) {
			if scale == 1 && os.Getenv("POLYJOBS_BENCH_REALTIME") == "" {
				b.Skip("a minute per op: set POLYJOBS_BENCH_REALTIME=1 to run it")
			}
			d := time.Duration(scale)
			srv := servertest.New(b, servertest.WithPollHint(-1), servertest.WithMaxWait(server20s/d))
			count := &requestCounter{byPath: map[string]int{}}
			c := newClient(b, srv.URL, WithAPIKey(srv.UserKey), WithHTTPClient(&http.Client{Transport: count}))
			opts := []WaitOption{
				WithPollInterval(DefaultMinPollInterval/d, DefaultMaxPollInterval/d),
				WithLongPoll(max(DefaultLongPollWait/d, time.Second)),
			}
			var requests []int
			var late []time.Duration
			for b.Loop() {
				var wg sync.WaitGroup
				var mu sync.Mutex
				began := time.Now()
				for i := range waitJobs {
					id := srv.CreateJob(JobTypeExportLogs)
					srv.Start(id)
					finishAt := began.Add(jobTime/d + time.Duration(i)*7*time.Millisecond)
					var finishedAt time.Time
					wg.Go(func() {
						time.Sleep(time.Until(finishAt))
						mu.Lock()
						finishedAt = time.Now()
						mu.Unlock()
						srv.Finish(id, map[string]string{"url": "https://example.com/logs.gz"})
					})
					wg.Go(func() {
						job, err := c.Wait(b.Context(), JobTypeExportLogs, id, opts...)
						seen := time.Now()
						if err != nil || job.Status != JobStatusDone {
							b.Errorf("Wait: %+v, %v", job, err)
							return
						}
						mu.Lock()
						defer mu.Unlock()
						late = append(late, seen.Sub(finishedAt))
						requests = append(requests, count.of(id))
					})
				}
				wg.Wait()
			}
			slices.Sort(requests)
			slices.Sort(late)
			total := 0
			for _, n := range requests {
				total += n
			}
			quantile := func(q float64) time.Duration { return late[int(q*float64(len(late)-1))] }
			b.ReportMetric(float64(total)/float64(len(requests)), "requests/job")
			b.ReportMetric(float64(requests[len(requests)-1]), "max-requests")
			b.ReportMetric(float64(quantile(0.5))/1e6, "late-ms-p50")
			b.ReportMetric(float64(quantile(0.95))/1e6, "late-ms-p95")
			b.ReportMetric(float64(late[len(late)-1])/1e6, "late-ms-max")
			if requests[len(requests)-1] > 4 || quantile(0.95) > 100*time.Millisecond {
				b.Errorf("a 60 s job cost up to %d requests and its end was seen %v late at p95; want at most 4 and 100ms",
					requests[len(requests)-1], quantile(0.95))
			}
		})
	}
}

// requestCounter is an http.RoundTripper that counts the requests for each
// job.
type requestCounter struct {
	mu     sync.Mutex
	byPath map[string]int
}

func (rc *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	rc.mu.Lock()
	rc.byPath[path.Base(r.URL.Path)]++
	rc.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// of returns how many requests were sent for the job id.
func (rc *requestCounter) of(id uuid.UUID) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.byPath[id.String()]
}

// BenchmarkGetJob fetches a finished job from the reference server, with a
// small result and with a 2 MiB one.
func BenchmarkGetJob(b *testing.B) {
	srv := servertest.New(b)
	c := newClient(b, srv.URL, WithAPIKey(srv.UserKey))
	large, err := json.Marshal(map[string]any{"records": []string{strings.Repeat("x", 2<<20)}, "warnings": []string{}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		result any
	}{
		{"result=small", map[string]string{"url": "https://example.com/logs.gz"}},
		{"result=2MiB", json.RawMessage(large)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			id := srv.CreateJob(JobTypeSampleModel)
			srv.Finish(id, bc.result)
			b.ReportAllocs()
			for b.Loop() {
				job, err := c.GetJob(b.Context(), JobTypeSampleModel, id)
				if err != nil || job.Status != JobStatusDone {
					b.Fatalf("GetJob: %+v, %v", job, err)
				}
			}
		})
	}
}

// cannedTransport answers every request with the same 200 response, without
// a network or a server.
type cannedTransport struct{ body []byte }

func (t cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Status:        "200 OK",
		Header:        http.Header{"Content-Type": {"application/json"}, "X-Polytomic-Version": {"2025-09-18"}},
		Body:          io.NopCloser(bytes.NewReader(t.body)),
		ContentLength: int64(len(t.body)),
		Request:       r,
	}, nil
}

// BenchmarkGetJobClientOnly is BenchmarkGetJob without the server: an
// in-memory transport isolates the SDK's own cost per call.
func BenchmarkGetJobClientOnly(b *testing.B) {
	id := uuid.New()
	body := []byte(jobJSON(id, JobTypeExportLogs, JobStatusDone, `{"url":"https://example.com/logs.gz"}`, ""))
	c := newClient(b, "https://app.polytomic.com", WithHTTPClient(&http.Client{Transport: cannedTransport{body}}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetJob(b.Context(), JobTypeExportLogs, id); err != nil {
			b.Fatal(err)
		}
	}
}
