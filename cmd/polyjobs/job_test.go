package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

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
		{"older version", append([]string{"job", "get", "samplemodel", running.String(), "--version", "2021-05-23"}, bearer...), 0, `"status": "running"`, ""},
		{"unknown job", append([]string{"job", "get", "exportlogs", uuid.NewString()}, bearer...), 2, "", "job not found"},
		{"type mismatch", append([]string{"job", "get", "createmodel", done.String()}, bearer...), 2, "", "404"},
		{"wrong key", []string{"job", "get", "exportlogs", done.String(), "--base-url", srv.URL, "--api-key", srv.OrgKey}, 2, "", "401"},
		{"unknown type", append([]string{"job", "get", "deletemodel", done.String()}, bearer...), 2, "", "unknown job type"},
		{"malformed id", append([]string{"job", "get", "exportlogs", "42"}, bearer...), 2, "", "not a UUID"},
		{"missing id", append([]string{"job", "get", "exportlogs"}, bearer...), 2, "", "want TYPE and ID"},
		{"no credentials", []string{"job", "get", "exportlogs", done.String(), "--base-url", srv.URL}, 2, "", "no credentials"},
		{"both credentials", append(append([]string{"job", "get", "exportlogs", done.String()}, bearer...), "--org-key", "x"), 2, "", "not both"},
		{"unknown flag", append([]string{"job", "get", "exportlogs", done.String(), "--nope"}, bearer...), 2, "", "unknown flag"},
		{"bad output", append([]string{"job", "get", "exportlogs", done.String(), "-o", "xml"}, bearer...), 2, "", "--output"},
		{"unknown version", append([]string{"job", "get", "exportlogs", done.String(), "--version", "1999-01-01"}, bearer...), 2, "", "version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := c.run(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
			if code != 0 && strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Fatalf("stderr is not one line: %q", errOut)
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
		code, out, errOut := c.run(append([]string{"job", "wait", "previewmodel", id.String()}, fast...)...)
		if code != 0 || !strings.Contains(out, `"status": "done"`) || !strings.Contains(out, `"name": "id"`) {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		// Not a terminal: a line per status change, in order.
		created, running, done := strings.Index(errOut, ": created"), strings.Index(errOut, ": running"), strings.Index(errOut, ": done")
		if created < 0 || running < created || done < running {
			t.Fatalf("progress lines %q; want created, running, done", errOut)
		}
	})
	t.Run("failed", func(t *testing.T) {
		id := srv.CreateJob(servertest.JobTypeCreateModel)
		srv.Fail(id, "warehouse unreachable")
		code, out, errOut := c.run(append([]string{"job", "wait", "createmodel", id.String()}, fast...)...)
		if code != 1 || !strings.Contains(out, `"status": "failed"`) || !strings.Contains(errOut, "job failed: warehouse unreachable") {
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
}
