package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/client"
	"github.com/polyjobs/polyjobs/server/servertest"
)

func ExampleNew() {
	// With a user API key and the API version the code was written for
	// (without WithVersion, the newest: DefaultVersion); the base URL has a
	// default.
	c, err := client.New(client.WithAPIKey("pk_live_example"), client.WithVersion(client.APIVersion20250918))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c) // printing a Client never shows its key

	// With an organization-scoped key, a pinned version and a patient retry policy.
	orgID := uuid.MustParse("0b8e7a3c-4f0e-4c47-9d55-1f2a3b4c5d6e")
	c, err = client.New(
		client.WithOrgKey(orgID, "ok_live_example"),
		client.WithVersion(client.APIVersion20240208),
		client.WithRetry(client.RetryPolicy{MaxAttempts: 5, MaxRetryAfter: time.Minute}),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c)

	_, err = client.New()
	fmt.Println(err)
	// Output:
	// polyjobs client (https://app.polytomic.com, version 2025-09-18, bearer auth)
	// polyjobs client (https://app.polytomic.com, version 2024-02-08, basic auth)
	// polyjobs: no credentials: use WithAPIKey(user key) or WithOrgKey(organization id, key)
}

func ExampleClient_GetJob() {
	srv, err := servertest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	created := srv.CreateJob(client.JobTypeExportLogs)
	srv.Finish(created, map[string]string{"url": "https://storage.example.com/logs/export.json.gz"})
	// The endpoint that started the job answered with its type and id as
	// strings, as they might also come from a queue or a database.
	jobType, jobID := "exportlogs", created.String()

	c, err := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey(srv.UserKey))
	if err != nil {
		log.Fatal(err)
	}
	id, err := uuid.Parse(jobID)
	if err != nil {
		log.Fatalf("job id %q: %v", jobID, err)
	}
	job, err := c.GetJob(context.Background(), client.JobType(jobType), id)
	if err != nil {
		log.Fatal(err)
	}
	var result struct {
		URL string `json:"url"`
	}
	if err := job.DecodeResult(&result); err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.Status, job.Terminal(), result.URL)

	// Another organization's job, or one that does not exist, is not found.
	_, err = c.GetJob(context.Background(), client.JobTypeExportLogs, uuid.New())
	var apiErr *client.APIError
	if errors.Is(err, client.ErrNotFound) && errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Key, apiErr.Message)
	}
	// Output:
	// done true https://storage.example.com/logs/export.json.gz
	// 404 not_found job not found
}

func ExampleClient_Wait() {
	srv, err := servertest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	created := srv.CreateJob(client.JobTypePreviewModel)
	srv.Start(created)
	jobID := created.String() // from the endpoint that started the job

	c, err := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey(srv.UserKey))
	if err != nil {
		log.Fatal(err)
	}
	id, err := uuid.Parse(jobID)
	if err != nil {
		log.Fatalf("job id %q: %v", jobID, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := c.Wait(ctx, client.JobTypePreviewModel, id,
		// Poll fast for the example; the defaults suit real jobs.
		client.WithPollInterval(10*time.Millisecond, 50*time.Millisecond),
		client.WithProgress(func(j *client.Job) {
			fmt.Println("status:", j.Status)
			if j.Status == client.JobStatusRunning {
				// Here the server finishes the job; usually it just happens.
				srv.Finish(id, []map[string]string{{"name": "id", "type": "integer"}})
			}
		}))
	var failed *client.JobFailedError
	switch {
	case errors.As(err, &failed):
		fmt.Println("job failed:", failed.Job.Error)
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Println("gave up; last status:", job.Status)
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("result:", string(job.Result))
	}
	// Output:
	// status: running
	// status: done
	// result: [{"name":"id","type":"integer"}]
}

func ExampleClient_GetJobIfChanged() {
	srv, err := servertest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id := srv.CreateJob(client.JobTypeSampleModel)
	srv.Start(id)

	c, err := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey(srv.UserKey))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	job, err := c.GetJob(ctx, client.JobTypeSampleModel, id)
	if err != nil {
		log.Fatal(err)
	}
	// Nothing changed: the server answers 304 Not Modified, without a body,
	// and the job comes back as it was.
	same, changed, err := c.GetJobIfChanged(ctx, job, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(same.Status, changed)

	// Here the job finishes in a moment; usually it just happens.
	time.AfterFunc(100*time.Millisecond, func() {
		srv.Finish(id, map[string]any{"records": []any{}, "warnings": []any{}})
	})
	for !job.Terminal() {
		// The server holds each request until the job changes, for up to
		// 30 s (the reference server: 20 s); a 304 means it did not.
		next, changed, err := c.GetJobIfChanged(ctx, job, 30*time.Second)
		if err != nil {
			log.Fatal(err)
		}
		if changed {
			fmt.Println("status:", next.Status)
		}
		if next.WaitApplied == 0 && !next.Terminal() {
			// The server answered at once (Polytomic's does): poll.
			time.Sleep(max(next.RetryAfter, 2*time.Second))
		}
		job = next
	}
	// Output:
	// running false
	// status: done
}

func ExampleConfigError() {
	// A program that configures its Client from its own settings can point
	// its user at the setting at fault.
	settings := map[string]string{"WithBaseURL": "POLYTOMIC_URL", "WithAPIKey": "POLYTOMIC_API_KEY"}
	_, err := client.New(client.WithBaseURL("https://app.polytomic.com:44x"), client.WithAPIKey("pk_live_example"))
	var ce *client.ConfigError
	if errors.As(err, &ce) {
		fmt.Printf("%s: %v\n", settings[ce.Option], ce.Err)
	}
	// Output:
	// POLYTOMIC_URL: malformed base URL "https://app.polytomic.com:44x": invalid port ":44x" after host
}
