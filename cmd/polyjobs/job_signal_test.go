//go:build unix

package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/syncbuf"
	"github.com/polyjobs/polyjobs/server/servertest"
)

// TestJobWaitInterrupted: SIGINT (Ctrl-C) or SIGTERM during job wait ends
// it with exit 130, the last job seen printed and a message saying so,
// rather than killing it mid-line.
func TestJobWaitInterrupted(t *testing.T) {
	bin := buildBinary(t, t.TempDir())
	srv := servertest.New(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			id := srv.CreateJob(servertest.JobTypeExportLogs)
			srv.Start(id)
			seen := srv.Requests()
			var stdout, stderr syncbuf.Buffer
			cmd := exec.Command(bin, "job", "wait", "exportlogs", id.String(), "--base-url", srv.URL, "--api-key", srv.UserKey)
			cmd.Env, cmd.Stdout, cmd.Stderr = cleanEnv(), &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); srv.Requests() == seen; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("job wait sent no request in 10 s; stderr %q", stderr.String())
				}
			}
			time.Sleep(100 * time.Millisecond) // past the first answer
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
				t.Fatalf("exit %v; want %d. stderr %q", err, exitInterrupted, stderr.String())
			}
			var job struct{ Status string }
			if err := json.Unmarshal([]byte(stdout.String()), &job); err != nil || job.Status != "running" {
				t.Fatalf("stdout %q; want the last job seen (%v)", stdout.String(), err)
			}
			if !strings.Contains(stderr.String(), "interrupted; the job is still running") {
				t.Fatalf("stderr %q", stderr.String())
			}
		})
	}
}
