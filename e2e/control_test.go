package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/internal/pgserver"
)

// controlPrefix is where `serve --control` serves the control API.
const controlPrefix = "/__polyjobs"

// Timing of the planned job of these tests: it runs firstStep after it was
// created, and is done a second later. firstStep leaves the server that
// created the job ample time to stop before the step is due.
const (
	firstStep   = 3 * time.Second
	plannedURL  = "https://storage.example.com/planned.json.gz"
	planTimeout = 30 * time.Second
)

// controlClient calls the control API of replicas and validates every
// answer against control.openapi.yaml.
type controlClient struct {
	t     *testing.T
	v     *apispec.Validator
	http  *http.Client
	token string // the replicas' --control-token, if any
}

func newControlClient(t *testing.T, token string) *controlClient {
	t.Helper()
	v, err := apispec.NewControlValidator(controlPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return &controlClient{t: t, v: v, http: &http.Client{Timeout: requestTimeout}, token: token}
}

// call sends body (nil for none) as JSON to r's control API, fails the test
// unless the answer has status want, and decodes it into out (nil to skip).
func (c *controlClient) call(r *replica, method, path string, body any, want int, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	url := r.URL() + controlPrefix + path
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %s %s: %v", r.name, method, url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("%s: %s %s: read body: %v", r.name, method, url, err)
	}
	if err := c.v.ValidateResponse(req, resp.StatusCode, resp.Header, b); err != nil {
		c.t.Fatalf("%s: %s %s: %d answer does not match control.openapi.yaml: %v\n%s", r.name, method, path, resp.StatusCode, err, b)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("%s: %s %s: %d %s; want %d", r.name, method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s: %s %s: %v in %s", r.name, method, path, err, b)
		}
	}
}

// controlJob is a job as the control API shows it.
type controlJob struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Plan   []struct {
		At     time.Time `json:"at"`
		Status string    `json:"status"`
	} `json:"plan"`
}

// createPlanned makes, through r's control API, an organization with a user
// key and an exportlogs job planned to run firstStep later and be done with
// {"url": plannedURL} a second after that. It returns the key's credentials
// and the job.
func (c *controlClient) createPlanned(r *replica) (cred, controlJob) {
	c.t.Helper()
	var org struct{ ID string }
	c.call(r, http.MethodPost, "/organizations", map[string]any{"name": "acme"}, http.StatusCreated, &org)
	var key struct{ Secret string }
	c.call(r, http.MethodPost, "/organizations/"+org.ID+"/keys", map[string]any{"kind": "user"}, http.StatusCreated, &key)
	var job controlJob
	c.call(r, http.MethodPost, "/jobs", map[string]any{"org": org.ID, "type": "exportlogs", "plan": []map[string]any{
		{"after": firstStep.String(), "status": "running"},
		{"after": "1s", "status": "done", "result": map[string]string{"url": plannedURL}},
	}}, http.StatusCreated, &job)
	if job.Status != "created" || len(job.Plan) != 2 {
		c.t.Fatalf("%s: the planned job, as created: %+v; want created with 2 steps", r.name, job)
	}
	secret := key.Secret
	return cred{"bearer user key", func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+secret) }}, job
}

// expectNotTaken fails the test unless the job, read from the database by
// `polyjobs admin`, is still created: no step of its plan was taken yet.
func expectNotTaken(t *testing.T, dsn string, job controlJob) {
	t.Helper()
	var shown struct{ Status string }
	out := admin(t, dsn, "job", "show", job.ID)
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("admin job show: %v in %s", err, out)
	}
	if shown.Status != "created" {
		t.Fatalf("job %s is %s before the replacement server started (its first step was due at %v, %v from now): the first server took longer than %v to stop, so this test proves nothing",
			job.ID, shown.Status, job.Plan[0].At, time.Until(job.Plan[0].At).Round(time.Millisecond), firstStep)
	}
}

// watchPlanned polls r's Get Job API until the planned job is done, and
// fails the test unless it saw it go, in order, through the end of
// created → running → done (a slow start may miss the first statuses) and
// ends done with its result.
func (c *apiClient) watchPlanned(r *replica, cr cred, job controlJob) {
	c.t.Helper()
	var seen []string
	deadline := time.Now().Add(planTimeout)
	for len(seen) == 0 || (seen[len(seen)-1] != "done" && seen[len(seen)-1] != "failed") {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: the planned job %s went %v in %v, and is not done", r.name, job.ID, seen, planTimeout)
		}
		resp := c.getJob(r, cr, "exportlogs", job.ID)
		if resp.status != http.StatusOK {
			c.t.Fatalf("%s: job %s: %d %s", r.name, job.ID, resp.status, resp.body)
		}
		got, err := decodeJob(resp.body, "exportlogs", job.ID)
		if err != nil {
			c.t.Fatalf("%s: job %s: %v", r.name, job.ID, err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != got.Status {
			seen = append(seen, got.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	all := []string{"created", "running", "done"}
	if len(seen) > len(all) || !slices.Equal(seen, all[len(all)-len(seen):]) {
		c.t.Fatalf("%s: the planned job %s went %v; want the end of %v", r.name, job.ID, seen, all)
	}
	c.expectJob(r, cr, "exportlogs", job.ID, jobState{Status: "done", Result: fmt.Sprintf(`{"url":%q}`, plannedURL)})
	c.t.Logf("%s: the planned job went %v", r.name, seen)
}

// TestPlansSurviveRestart creates a planned job through one server, stops it
// before the first step is due, and starts another on the same database,
// on SQLite and on PostgreSQL: the new server takes the steps, at the times
// the plan set, because plans are in the store.
func TestPlansSurviveRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "polyjobs.db") }},
		{"postgres", func(t *testing.T) string { return pgserver.DSN(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn := tc.dsn(t)
			before := startReplica(t, "before", dsn, "--control")
			ctl := newControlClient(t, "")
			key, job := ctl.createPlanned(before)
			before.stop(t)
			expectNotTaken(t, dsn, job)

			after := startReplica(t, "after", dsn, "--control")
			c := newAPIClient(t)
			c.watchPlanned(after, key, job)
			var shown struct {
				UpdatedAt time.Time `json:"updated_at"`
			}
			ctl.call(after, http.MethodGet, "/jobs/"+job.ID, nil, http.StatusOK, &shown)
			if shown.UpdatedAt.Before(job.Plan[1].At) {
				t.Errorf("the job was done at %v, before its last step was due at %v", shown.UpdatedAt, job.Plan[1].At)
			}
		})
	}
}

// TestPlansAcrossReplicas runs two replicas with the control API on one
// PostgreSQL database: a plan made through replica A is carried out by
// replica B after A has stopped, before the plan's first step was due.
func TestPlansAcrossReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgserver.DSN(t)
	const token = "e2e-control-token"
	rs := startReplicas(t, "replica", dsn, 2, "--control", "--control-token", token)
	a, b := rs[0], rs[1]
	ctl := newControlClient(t, token)
	key, job := ctl.createPlanned(a)
	// B sees the plan A made.
	var shown controlJob
	ctl.call(b, http.MethodGet, "/jobs/"+job.ID, nil, http.StatusOK, &shown)
	if len(shown.Plan) != len(job.Plan) {
		t.Fatalf("%s shows the job %+v; %s made it with %d steps", b.name, shown, a.name, len(job.Plan))
	}
	a.stop(t)
	expectNotTaken(t, dsn, job)

	c := newAPIClient(t)
	c.watchPlanned(b, key, job)
	var finished controlJob
	ctl.call(b, http.MethodGet, "/jobs/"+job.ID, nil, http.StatusOK, &finished)
	if finished.Status != "done" || len(finished.Plan) != 0 {
		t.Errorf("%s shows the job %+v; want done with no steps left", b.name, finished)
	}
	if lines := b.logLines("WARN"); len(lines) > 0 {
		t.Errorf("%s warned while taking the plan:\n%s", b.name, lines)
	}
}
