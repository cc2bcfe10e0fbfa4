package client_test

import (
	"errors"
	"testing"

	"github.com/polyjobs/polyjobs/client"
	"github.com/polyjobs/polyjobs/server/servertest"
)

// TestRetryHonoursServerRateLimit runs the SDK against the reference server
// with its real per-key rate limit: the request over the limit gets a 429
// with Retry-After, and GetJob waits as told and then succeeds.
func TestRetryHonoursServerRateLimit(t *testing.T) {
	srv := servertest.New(t, servertest.WithRateLimit(1, 1))
	id := srv.CreateJob(servertest.JobTypeExportLogs)
	srv.Finish(id, map[string]string{"url": "https://example.com/x"})

	noRetry, err := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey(srv.UserKey),
		client.WithRetry(client.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noRetry.GetJob(t.Context(), client.JobTypeExportLogs, id); err != nil {
		t.Fatalf("first request: %v", err)
	}
	_, err = noRetry.GetJob(t.Context(), client.JobTypeExportLogs, id)
	var apiErr *client.APIError
	if !errors.Is(err, client.ErrRateLimited) || !errors.As(err, &apiErr) || apiErr.RetryAfter <= 0 {
		t.Fatalf("second request without retries: %v; want a 429 with its Retry-After", err)
	}

	c, err := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey(srv.UserKey))
	if err != nil {
		t.Fatal(err)
	}
	before := srv.Requests()
	job, err := c.GetJob(t.Context(), client.JobTypeExportLogs, id)
	if err != nil || job.Status != client.JobStatusDone {
		t.Fatalf("GetJob with retries: %+v, %v; want the job after waiting out the limit", job, err)
	}
	if n := srv.Requests() - before; n != 2 {
		t.Fatalf("%d requests; want 2: one 429, then the retry after Retry-After", n)
	}
}
