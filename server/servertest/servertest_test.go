package servertest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/servertest"
	"github.com/polyjobs/polyjobs/server/store"
)

func get(t *testing.T, srv *servertest.Server, path string) (*http.Response, api.JobResponseEnvelope) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+srv.UserKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env api.JobResponseEnvelope
	_ = json.NewDecoder(resp.Body).Decode(&env)
	return resp, env
}

func TestLifecycle(t *testing.T) {
	srv := servertest.New(t)
	id := srv.CreateJob(servertest.JobTypeExportLogs)
	path := "/api/jobs/exportlogs/" + id.String()
	if _, env := get(t, srv, path); env.Data.Status != api.JobStatusCreated {
		t.Fatalf("status %q", env.Data.Status)
	}
	srv.Start(id)
	if _, env := get(t, srv, path); env.Data.Status != api.JobStatusRunning {
		t.Fatalf("status %q", env.Data.Status)
	}
	srv.Finish(id, map[string]string{"url": "https://example.com/x"})
	resp, env := get(t, srv, path)
	if resp.StatusCode != 200 || env.Data.Status != api.JobStatusDone || string(env.Data.Result) != `{"url":"https://example.com/x"}` {
		t.Fatalf("done job: %d %+v", resp.StatusCode, env.Data)
	}
	other := srv.CreateJob(servertest.JobTypeSampleModel)
	srv.Fail(other, "no rows")
	if _, env := get(t, srv, "/api/jobs/samplemodel/"+other.String()); env.Data.Error == nil || *env.Data.Error != "no rows" {
		t.Fatalf("failed job: %+v", env.Data)
	}
	// Basic authentication with the organization key works too.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.SetBasicAuth(srv.OrgID.String(), srv.OrgKey)
	r2, err := http.DefaultClient.Do(req)
	if err != nil || r2.StatusCode != 200 {
		t.Fatalf("basic auth: %v %v", r2, err)
	}
	r2.Body.Close()
	if srv.Requests() != 5 {
		t.Fatalf("Requests() = %d; want 5", srv.Requests())
	}
}

func TestFaults(t *testing.T) {
	srv := servertest.New(t)
	id := srv.CreateJob(servertest.JobTypeExportLogs)
	path := "/api/jobs/exportlogs/" + id.String()
	srv.FailNext(0, http.StatusServiceUnavailable, 0) // fails none
	srv.FailNext(-1, http.StatusServiceUnavailable, 0)
	if resp, _ := get(t, srv, path); resp.StatusCode != 200 {
		t.Fatalf("after FailNext(0) and FailNext(-1): %d", resp.StatusCode)
	}
	srv.FailNext(2, http.StatusTooManyRequests, 3*time.Second)
	for i := 0; i < 2; i++ {
		resp, _ := get(t, srv, path)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "3" {
			t.Fatalf("request %d: %d Retry-After %q", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if resp, _ := get(t, srv, path); resp.StatusCode != 200 {
		t.Fatalf("after faults: %d", resp.StatusCode)
	}
	srv.SetLatency(50 * time.Millisecond)
	start := time.Now()
	get(t, srv, path)
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("latency not applied")
	}
}

// TestMaxWait: WithMaxWait caps the server's hold, or turns holding off, and
// Waiting counts the requests held.
func TestMaxWait(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxWait time.Duration
		applied string // Preference-Applied of the 304
	}{
		{"one second", time.Second, "wait=1"},
		{"never holds", -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := servertest.New(t, servertest.WithMaxWait(tc.maxWait))
			id := srv.CreateJob(servertest.JobTypeExportLogs)
			path := "/api/jobs/exportlogs/" + id.String()
			first, _ := get(t, srv, path)
			answer := make(chan *http.Response, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+srv.UserKey)
				req.Header.Set("If-None-Match", first.Header.Get("ETag"))
				req.Header.Set("Prefer", "wait=10")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
				} else {
					resp.Body.Close()
				}
				answer <- resp
			}()
			held := false
			for deadline := time.Now().Add(5 * time.Second); !held && len(answer) == 0 && time.Now().Before(deadline); {
				held = srv.Waiting() == 1
				time.Sleep(5 * time.Millisecond)
			}
			resp := <-answer
			if resp == nil || resp.StatusCode != http.StatusNotModified || resp.Header.Get("Preference-Applied") != tc.applied {
				t.Fatalf("%v; want a 304 with Preference-Applied %q", resp, tc.applied)
			}
			if held != (tc.applied != "") || srv.Waiting() != 0 {
				t.Fatalf("held %v, %d waiting after the answer", held, srv.Waiting())
			}
		})
	}
}

// TestPlannedJobAndControlAPI: a job created with a plan moves by itself,
// and the control API answers on the same server.
func TestPlannedJobAndControlAPI(t *testing.T) {
	srv := servertest.New(t)
	id := srv.CreateJob(servertest.JobTypeExportLogs,
		control.Step{After: 20 * time.Millisecond, Transition: store.Start()},
		control.Step{After: 20 * time.Millisecond, Transition: store.Finish(json.RawMessage(`{"url":"u"}`))})
	deadline := time.Now().Add(10 * time.Second)
	for {
		job, err := srv.Store.JobByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if job.Status == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the planned job is still %s after 10 s", job.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get(srv.URL + control.Prefix + "/jobs/" + id.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/jobs/%s: %d", control.Prefix, id, resp.StatusCode)
	}
}
