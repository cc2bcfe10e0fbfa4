package servertest_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/client"
	"github.com/polyjobs/polyjobs/server/servertest"
)

// A test of code that polls Polytomic jobs runs it against the reference
// server: New starts one for the test, with an organization and its keys,
// and closes it when the test ends. Here t stands in for the test's
// *testing.T, so that the example runs.
func ExampleNew() {
	t := newExampleT()
	defer t.finish()

	srv := servertest.New(t)
	created := srv.CreateJob(servertest.JobTypeExportLogs)
	srv.Start(created)

	c, err := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey(srv.UserKey))
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	// The code under test has the job's id as a string, as the endpoint that
	// started the job returned it.
	id, err := uuid.Parse(created.String())
	if err != nil {
		t.Fatalf("job id: %v", err)
	}
	job, err := c.GetJob(context.Background(), client.JobTypeExportLogs, id)
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	fmt.Println(job.Status)

	srv.Finish(created, map[string]string{"url": "https://storage.example.com/export.json.gz"})
	job, err = c.GetJob(context.Background(), client.JobTypeExportLogs, id)
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	fmt.Println(job.Status, string(job.Result))

	// Faults: the next request gets a 503, which the client retries.
	srv.FailNext(1, http.StatusServiceUnavailable, 0)
	job, err = c.GetJob(context.Background(), client.JobTypeExportLogs, id)
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	fmt.Println(job.Status, "after", srv.Requests(), "requests")
	// Output:
	// running
	// done {"url":"https://storage.example.com/export.json.gz"}
	// done after 4 requests
}

// NewServer starts a server outside a test, for a TestMain or a program; the
// caller closes it.
func ExampleNewServer() {
	srv, err := servertest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	id := srv.CreateJob(servertest.JobTypeSampleModel)
	srv.Fail(id, "warehouse unreachable")

	c, err := client.New(client.WithBaseURL(srv.URL), client.WithOrgKey(srv.OrgID, srv.OrgKey))
	if err != nil {
		log.Fatal(err)
	}
	job, err := c.GetJob(context.Background(), client.JobTypeSampleModel, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.Status, job.Error)
	// Output:
	// failed warehouse unreachable
}

// exampleT stands in for the *testing.T of a test, so that ExampleNew runs
// outside one: it keeps the cleanups New registers until finish, and turns a
// fatal error into a panic.
type exampleT struct {
	testing.TB // the methods New does not use; calling one panics
	cleanups   []func()
}

func newExampleT() *exampleT { return &exampleT{} }

func (t *exampleT) Helper()                           {}
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// finish runs the cleanups, last registered first, as a test's end does.
func (t *exampleT) finish() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
