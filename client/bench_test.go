package client

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/servertest"
)

// BenchmarkWait waits for jobs of several lengths against the reference
// server, sending no Retry-After hint, in virtual time: the client's clock
// hooks make every sleep instant and finish the job once virtual time passes
// its length. It reports the requests a wait costs and how late it notices
// the job's end; ns/op is the real cost of those requests. The jitter is
// seeded per iteration, so the figures are reproducible.
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
			srv := servertest.New(b, servertest.WithPollHint(-1))
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
