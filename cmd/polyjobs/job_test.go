package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/client"
	"github.com/polyjobs/polyjobs/server/servertest"
)

func TestJobGet(t *testing.T) {
	srv := servertest.New(t)
	done := srv.CreateJob(servertest.JobTypeExportLogs)
	srv.Finish(done, map[string]string{"url": "https://example.com/x?a=1&b=2"})
	running := srv.CreateJob(servertest.JobTypeSampleModel)
	srv.Start(running)
	bearer := []string{"--base-url", srv.URL, "--api-key", srv.UserKey}
	basic := []string{"--base-url", srv.URL, "--org-id", srv.OrgID.String(), "--org-key", srv.OrgKey}
	c := newCLI(t)
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"done job", append([]string{"job", "get", "exportlogs", done.String()}, bearer...), 0, `"url": "https://example.com/x?a=1&b=2"`, ""},
		{"basic credentials", append([]string{"job", "get", "exportlogs", done.String()}, basic...), 0, `"status": "done"`, ""},
		{"text output", append([]string{"job", "get", "samplemodel", running.String(), "-o", "text"}, bearer...), 0, "status: running", ""},
		{"older version", append([]string{"job", "get", "samplemodel", running.String(), "--api-version", "2021-05-23"}, bearer...), 0, `"status": "running"`, ""},
		{"unknown job", append([]string{"job", "get", "exportlogs", uuid.NewString()}, bearer...), 2, "", "job not found"},
		{"type mismatch", append([]string{"job", "get", "createmodel", done.String()}, bearer...), 2, "", "404"},
		{"wrong key", []string{"job", "get", "exportlogs", done.String(), "--base-url", srv.URL, "--api-key", srv.OrgKey}, 2, "", "401"},
		{"unknown type", append([]string{"job", "get", "deletemodel", done.String()}, bearer...), 2, "", "unknown job type"},
		{"malformed id", append([]string{"job", "get", "exportlogs", "42"}, bearer...), 2, "", "not a UUID"},
		{"missing id", append([]string{"job", "get", "exportlogs"}, bearer...), 2, "", "wants 2 arguments (TYPE ID), got 1"},
		{"no credentials", []string{"job", "get", "exportlogs", done.String(), "--base-url", srv.URL}, 2, "", "no credentials"},
		{"both credentials", append(append([]string{"job", "get", "exportlogs", done.String()}, bearer...), "--org-key", "x"), 2, "", "not both"},
		{"unknown flag", append([]string{"job", "get", "exportlogs", done.String(), "--nope"}, bearer...), 2, "", "unknown flag"},
		{"bad output", append([]string{"job", "get", "exportlogs", done.String(), "-o", "xml"}, bearer...), 2, "", "--output"},
		{"unknown version", append([]string{"job", "get", "exportlogs", done.String(), "--api-version", "1999-01-01"}, bearer...), 2, "", "version"},
		{"text errors", append([]string{"job", "get", "exportlogs", uuid.NewString(), "-o", "text"}, bearer...), 2, "", "polyjobs: get job exportlogs/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := c.run(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
			if code != 0 {
				checkErrorLine(t, errOut)
			}
			if strings.Contains(errOut, srv.UserKey) || strings.Contains(errOut, srv.OrgKey) {
				t.Fatalf("stderr shows a key: %q", errOut)
			}
		})
	}
	t.Run("JSON output is the API's job", func(t *testing.T) {
		_, out, _ := c.run(append([]string{"job", "get", "exportlogs", done.String()}, bearer...)...)
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		if v["job_id"] != done.String() || v["type"] != "exportlogs" || v["status"] != "done" || v["error"] != nil {
			t.Fatalf("printed %v", v)
		}
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv("POLYJOBS_BASE_URL", srv.URL)
		t.Setenv("POLYJOBS_API_KEY", srv.UserKey)
		if code, out, errOut := c.run("job", "get", "exportlogs", done.String()); code != 0 || !strings.Contains(out, "done") {
			t.Fatalf("exit %d %q %q", code, out, errOut)
		}
	})
}

func TestJobWait(t *testing.T) {
	srv := servertest.New(t, servertest.WithPollHint(-1))
	fast := []string{"--base-url", srv.URL, "--api-key", srv.UserKey, "--min-interval", "5ms", "--max-interval", "20ms"}
	c := newCLI(t)

	t.Run("done", func(t *testing.T) {
		id := srv.CreateJob(servertest.JobTypePreviewModel)
		go func() {
			time.Sleep(50 * time.Millisecond)
			srv.Start(id)
			time.Sleep(50 * time.Millisecond)
			srv.Finish(id, []map[string]string{{"name": "id"}})
		}()
		code, out, errOut := c.run(append([]string{"job", "wait", "previewmodel", id.String(), "-o", "text"}, fast...)...)
		if code != 0 || !strings.Contains(out, "status: done") || !strings.Contains(out, `result: [{"name":"id"}]`) {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		// Not a terminal, text: a line per status change, in order.
		created, running, done := strings.Index(errOut, ": created"), strings.Index(errOut, ": running"), strings.Index(errOut, ": done")
		if created < 0 || running < created || done < running {
			t.Fatalf("progress lines %q; want created, running, done", errOut)
		}
	})
	t.Run("failed", func(t *testing.T) {
		id := srv.CreateJob(servertest.JobTypeCreateModel)
		srv.Fail(id, "warehouse unreachable")
		code, out, errOut := c.run(append([]string{"job", "wait", "createmodel", id.String()}, fast...)...)
		if code != 1 || !strings.Contains(out, `"status": "failed"`) || jsonError(errOut) != "job failed: warehouse unreachable" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		id := srv.CreateJob(servertest.JobTypeExportLogs)
		srv.Start(id)
		code, out, errOut := c.run(append([]string{"job", "wait", "exportlogs", id.String(), "--timeout", "200ms"}, fast...)...)
		if code != 3 || !strings.Contains(out, `"status": "running"`) || !strings.Contains(errOut, "timed out") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("not found", func(t *testing.T) {
		code, out, errOut := c.run(append([]string{"job", "wait", "exportlogs", uuid.NewString()}, fast...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, "not found") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("bad --long-poll", func(t *testing.T) {
		code, _, errOut := c.run(append([]string{"job", "wait", "exportlogs", uuid.NewString(), "--long-poll", "500ms"}, fast...)...)
		if code != 2 || !strings.Contains(errOut, "--long-poll 500ms: want 0 (off) or at least 1s") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
}

// TestJobWaitLongPoll: against the reference server, `job wait` is held
// until the job changes, and ends as soon as it does: after the first poll,
// one request per change. The server holds a request for up to 20 s, so a
// wait that did not end with the change would cost another request.
func TestJobWaitLongPoll(t *testing.T) {
	srv := servertest.New(t)
	args := []string{"--base-url", srv.URL, "--api-key", srv.UserKey, "--min-interval", "5ms", "--max-interval", "20ms", "-o", "text"}
	c := newCLI(t)
	for _, tc := range []struct {
		name     string
		changes  []func(uuid.UUID)
		requests int64
		stdout   string
		code     int
	}{
		{"done", []func(uuid.UUID){srv.Start, func(id uuid.UUID) { srv.Finish(id, nil) }}, 3, "status: done", 0},
		{"failed", []func(uuid.UUID){func(id uuid.UUID) { srv.Fail(id, "warehouse unreachable") }}, 2, "status: failed", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := srv.CreateJob(servertest.JobTypeExportLogs)
			before := srv.Requests()
			go func() {
				for i, change := range tc.changes {
					if !waitHeld(t, srv, before+int64(i)+2) {
						return
					}
					change(id)
				}
			}()
			code, out, errOut := c.run(append([]string{"job", "wait", "exportlogs", id.String()}, args...)...)
			if code != tc.code || !strings.Contains(out, tc.stdout) {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			if n := srv.Requests() - before; n != tc.requests {
				t.Fatalf("%d requests; want %d: the first poll, then one held request per change", n, tc.requests)
			}
		})
	}
}

// waitHeld waits until srv holds a request and has received at least n in
// all; it reports false, failing the test, when that does not happen within
// 10 s.
func waitHeld(t *testing.T, srv *servertest.Server, n int64) bool {
	for deadline := time.Now().Add(10 * time.Second); srv.Waiting() != 1 || srv.Requests() < n; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the server never held request %d (holds %d after %d)", n, srv.Waiting(), srv.Requests())
			return false
		}
	}
	return true
}

// TestJobWaitJSONL: -o jsonl prints the job as one line of JSON at every
// status change, the last line being the final job, and leaves stderr to
// JSON errors.
func TestJobWaitJSONL(t *testing.T) {
	srv := servertest.New(t, servertest.WithPollHint(-1))
	fast := []string{"--base-url", srv.URL, "--api-key", srv.UserKey, "--min-interval", "5ms", "--max-interval", "20ms", "-o", "jsonl"}
	c := newCLI(t)
	type line struct {
		JobID  string          `json:"job_id"`
		Type   string          `json:"type"`
		Status string          `json:"status"`
		Result json.RawMessage `json:"result"`
		Error  *string         `json:"error"`
	}
	parse := func(t *testing.T, out string) []line {
		t.Helper()
		var lines []line
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			var v line
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("stdout line %q is not JSON: %v", l, err)
			}
			lines = append(lines, v)
		}
		return lines
	}
	statuses := func(lines []line) string {
		var s []string
		for _, l := range lines {
			s = append(s, l.Status)
		}
		return strings.Join(s, " ")
	}

	t.Run("done", func(t *testing.T) {
		id := srv.CreateJob(servertest.JobTypeExportLogs)
		go func() {
			time.Sleep(50 * time.Millisecond)
			srv.Start(id)
			time.Sleep(50 * time.Millisecond)
			srv.Finish(id, map[string]string{"url": "https://example.com/x?a=1&b=2"})
		}()
		code, out, errOut := c.run(append([]string{"job", "wait", "exportlogs", id.String()}, fast...)...)
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		lines := parse(t, out)
		if statuses(lines) != "created running done" {
			t.Fatalf("lines %q; want created, running, done", out)
		}
		last := lines[len(lines)-1]
		if last.JobID != id.String() || last.Type != "exportlogs" || string(last.Result) != `{"url":"https://example.com/x?a=1&b=2"}` || last.Error != nil {
			t.Fatalf("last line %+v is not the final job", last)
		}
	})
	t.Run("failed", func(t *testing.T) {
		id := srv.CreateJob(servertest.JobTypeCreateModel)
		srv.Fail(id, "warehouse unreachable")
		code, out, errOut := c.run(append([]string{"job", "wait", "createmodel", id.String()}, fast...)...)
		lines := parse(t, out)
		if code != 1 || statuses(lines) != "failed" || *lines[0].Error != "warehouse unreachable" {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
		var e errorJSON
		if err := json.Unmarshal([]byte(errOut), &e); err != nil || e.ExitCode != 1 || e.Error != "job failed: warehouse unreachable" {
			t.Fatalf("stderr %q; want a JSON error with exit code 1: %v", errOut, err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		id := srv.CreateJob(servertest.JobTypeSampleModel)
		srv.Start(id)
		code, out, errOut := c.run(append([]string{"job", "wait", "samplemodel", id.String(), "--timeout", "200ms"}, fast...)...)
		if lines := parse(t, out); code != 3 || statuses(lines) != "running" {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
		if e := jsonError(errOut); !strings.Contains(e, "timed out after 200ms; the job is still running") {
			t.Fatalf("stderr %q", errOut)
		}
	})
	t.Run("API error", func(t *testing.T) {
		code, out, errOut := c.run(append([]string{"job", "wait", "exportlogs", uuid.NewString()}, fast...)...)
		var e errorJSON
		if err := json.Unmarshal([]byte(errOut), &e); err != nil || code != 2 || out != "" ||
			e.ExitCode != 2 || e.Status != 404 || e.Key != "not_found" || e.RequestID == "" || strings.HasPrefix(e.Error, "polyjobs:") {
			t.Fatalf("exit %d, stdout %q, stderr %q (%v)", code, out, errOut, err)
		}
	})
}

// TestJobTimeoutWithoutAnswer: a server that never answers ends job get and
// job wait at --timeout, with an error that says so, and not the SDK's
// account of a cancelled request.
func TestJobTimeoutWithoutAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	c := newCLI(t)
	for _, tc := range []struct {
		command string
		code    int
	}{{"get", exitRequest}, {"wait", exitTimeout}} {
		t.Run(tc.command, func(t *testing.T) {
			code, out, errOut := c.run("job", tc.command, "exportlogs", uuid.NewString(), "--base-url", srv.URL, "--api-key", "pju_x", "--timeout", "200ms")
			want := "timed out after 200ms before " + srv.URL + " answered with the job"
			if code != tc.code || out != "" || jsonError(errOut) != want {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, tc.code, want)
			}
		})
	}
}

// failingWriter fails every write, as stdout on a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestJobWaitStopsWhenStdoutFails: with -o jsonl, a line that cannot be
// written ends the wait at once, rather than at --timeout.
func TestJobWaitStopsWhenStdoutFails(t *testing.T) {
	srv := servertest.New(t)
	id := srv.CreateJob(servertest.JobTypeExportLogs)
	srv.Start(id)
	var errOut bytes.Buffer
	start := time.Now()
	code := run([]string{"job", "wait", "exportlogs", id.String(), "--base-url", srv.URL, "--api-key", srv.UserKey,
		"--timeout", "2m", "-o", "jsonl"}, strings.NewReader(""), failingWriter{}, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "no space left on device") {
		t.Fatalf("exit %d, stderr %q; want the write error", code, errOut.String())
	}
	if took := time.Since(start); took > time.Minute {
		t.Fatalf("the wait went on for %v after stdout failed", took)
	}
}

// TestJobFailedWithoutMessage: a failed job whose error is empty (another
// server's; polyjobs's jobs always have one) ends with an error that says so.
func TestJobFailedWithoutMessage(t *testing.T) {
	id := uuid.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"data":{"job_id":%q,"type":"exportlogs","status":"failed","result":null,"error":""}}`, id)
	}))
	t.Cleanup(srv.Close)
	code, _, errOut := newCLI(t).run("job", "wait", "exportlogs", id.String(), "--base-url", srv.URL, "--api-key", "pju_x")
	if e := jsonError(errOut); code != exitFailed || e != "job failed, without an error message" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// TestJobAttemptTimeout: an attempt cut by the HTTP client's own timeout is
// a network error (exit 2), not the --timeout passing, although net/http's
// error for it matches context.DeadlineExceeded.
func TestJobAttemptTimeout(t *testing.T) {
	id := uuid.New()
	var answered atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answered.CompareAndSwap(false, true) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"data":{"job_id":%q,"type":"exportlogs","status":"running","result":null,"error":null}}`, id)
			return
		}
		<-r.Context().Done() // every later request hangs
	}))
	t.Cleanup(srv.Close)
	defer func(d time.Duration) { attemptTimeout = d }(attemptTimeout)
	attemptTimeout = 100 * time.Millisecond
	c := newCLI(t)
	for _, args := range [][]string{{"wait", "--long-poll", "0s"}, {"get"}} {
		t.Run(args[0], func(t *testing.T) {
			code, _, errOut := c.run(append([]string{"job", args[0], "exportlogs", id.String(), "--base-url", srv.URL, "--api-key", "pju_x",
				"--timeout", "1m"}, args[1:]...)...)
			e := jsonError(errOut)
			if code != exitRequest || strings.Contains(e, "timed out after 1m") || !strings.Contains(e, "Client.Timeout exceeded") {
				t.Fatalf("exit %d, stderr %q; want exit %d with the network error", code, errOut, exitRequest)
			}
		})
	}
}

// TestJobAPIVersion: --api-version and POLYJOBS_API_VERSION set the header;
// the old POLYJOBS_VERSION still does, with a warning, but only when it
// holds an API version.
func TestJobAPIVersion(t *testing.T) {
	var sent []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Header.Get("X-Polytomic-Version"))
		mu.Unlock()
		parts := strings.Split(r.URL.Path, "/")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"data":{"job_id":%q,"type":"exportlogs","status":"running","result":null,"error":null}}`, parts[len(parts)-1])
	}))
	t.Cleanup(srv.Close)
	c := newCLI(t)
	tests := []struct {
		name    string
		flag    string
		env     map[string]string
		want    string
		warning bool
	}{
		{"default", "", nil, string(client.DefaultVersion), false},
		{"flag", "2021-05-23", nil, "2021-05-23", false},
		{"environment", "", map[string]string{"POLYJOBS_API_VERSION": "2022-12-12"}, "2022-12-12", false},
		{"flag over environment", "2023-04-25", map[string]string{"POLYJOBS_API_VERSION": "2022-12-12", "POLYJOBS_VERSION": "2021-05-23"}, "2023-04-25", false},
		{"legacy variable", "", map[string]string{"POLYJOBS_VERSION": "2024-02-08"}, "2024-02-08", true},
		{"new variable over legacy", "", map[string]string{"POLYJOBS_API_VERSION": "2022-12-12", "POLYJOBS_VERSION": "2024-02-08"}, "2022-12-12", false},
		{"legacy variable of another meaning", "", map[string]string{"POLYJOBS_VERSION": "v1.2.3"}, string(client.DefaultVersion), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := []string{"job", "get", "exportlogs", uuid.NewString(), "--base-url", srv.URL, "--api-key", "pju_x", "-o", "text"}
			if tc.flag != "" {
				args = append(args, "--api-version", tc.flag)
			}
			mu.Lock()
			sent = nil
			mu.Unlock()
			code, _, errOut := c.run(args...)
			mu.Lock()
			defer mu.Unlock()
			if code != 0 || len(sent) != 1 || sent[0] != tc.want {
				t.Fatalf("exit %d, sent %q, stderr %q; want %s", code, sent, errOut, tc.want)
			}
			if warned := strings.Contains(errOut, "POLYJOBS_VERSION is deprecated"); warned != tc.warning || (!tc.warning && errOut != "") {
				t.Fatalf("stderr %q; want a deprecation warning: %v", errOut, tc.warning)
			}
		})
	}
}

// TestPlainHTTPWarning: a key sent over http:// to a host that is not this
// machine is named on stderr; on loopback, or over https, nothing is said.
func TestPlainHTTPWarning(t *testing.T) {
	c := newCLI(t)
	id := uuid.NewString()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"user key to another host", []string{"--base-url", "http://192.0.2.1:1", "--api-key", "pju_x", "-o", "text"},
			"polyjobs: warning: sending the API key over plain http:// to 192.0.2.1:1, where anyone on the way can read it: use https://\n"},
		{"org key to another host", []string{"--base-url", "http://192.0.2.1:1", "--org-id", id, "--org-key", "pjo_x", "-o", "text"},
			"sending the organization key over plain http://"},
		{"as JSON", []string{"--base-url", "http://192.0.2.1:1", "--api-key", "pju_x"},
			`{"warning":"sending the API key over plain http:// to 192.0.2.1:1, where anyone on the way can read it: use https://"}` + "\n"},
		{"loopback", []string{"--base-url", "http://127.0.0.1:1", "--api-key", "pju_x", "-o", "text"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"job", "get", "exportlogs", id, "--timeout", "100ms"}, tc.args...)
			code, _, errOut := c.run(args...)
			if code != exitRequest {
				t.Fatalf("exit %d; want %d (nothing listens there)", code, exitRequest)
			}
			first, rest, _ := strings.Cut(errOut, "\n")
			if tc.want == "" {
				if strings.Contains(errOut, "warning") {
					t.Fatalf("stderr %q warns about loopback", errOut)
				}
				return
			}
			if !strings.Contains(first+"\n", tc.want) {
				t.Fatalf("stderr %q; want it to start with %q", errOut, tc.want)
			}
			checkErrorLine(t, rest) // then the error itself
		})
	}
}
