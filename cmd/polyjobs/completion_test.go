package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/cmd/polyjobs/internal/demo"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/database"
)

func TestCompletionScripts(t *testing.T) {
	c := newCLI(t)
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, errOut := c.run("completion", shell)
		if code != 0 || !strings.Contains(out, "polyjobs") || errOut != "" {
			t.Errorf("completion %s: exit %d, stderr %q, %d bytes", shell, code, errOut, len(out))
		}
	}
}

// complete returns what the shell would offer for the command line args, the
// last being the word being completed.
func complete(t *testing.T, c *cli, args ...string) []string {
	t.Helper()
	code, out, _ := c.run(append([]string{"__complete"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) == 0 || lines[len(lines)-1] != ":4" { // ShellCompDirectiveNoFileComp
		t.Fatalf("__complete %v: exit %d, %q", args, code, out)
	}
	return lines[:len(lines)-1]
}

func TestCompleteJobArgs(t *testing.T) {
	c := newCLI(t)
	t.Run("types", func(t *testing.T) {
		if got := complete(t, c, "job", "get", ""); strings.Join(got, " ") != jobTypeList2() {
			t.Errorf("got %q", got)
		}
		if got := complete(t, c, "job", "wait", "sam"); strings.Join(got, " ") != "samplemodel" {
			t.Errorf("got %q", got)
		}
	})

	// A --dev server's database and keys file.
	dir := t.TempDir()
	db, keys := filepath.Join(dir, "polyjobs.db"), filepath.Join(dir, "keys.json")
	ctx := context.Background()
	s, err := database.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	ops := control.NewService(s, &control.Faults{}, nil)
	creds, err := demo.Setup(ctx, ops, s, keys)
	if err != nil {
		t.Fatal(err)
	}
	d := &demo.Driver{Control: ops, OrgID: creds.OrgID, Interval: time.Millisecond, FailureRate: 0.5}
	for range 10 {
		if err := d.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		if _, err := ops.TakeDueSteps(ctx); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := s.ListJobs(ctx, store.JobFilter{OrgID: creds.OrgID, Types: []store.JobType{"exportlogs"}})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("no demo here", func(t *testing.T) {
		t.Chdir(t.TempDir())
		if got := complete(t, c, "job", "get", "exportlogs", ""); len(got) != 0 {
			t.Errorf("completed ids without a keys file: %q", got)
		}
	})
	t.Run("demo ids", func(t *testing.T) {
		t.Setenv("POLYJOBS_DB", db)
		t.Setenv("POLYJOBS_DEV_KEYS", keys)
		got := complete(t, c, "job", "wait", "exportlogs", "")
		if len(got) != min(len(jobs), maxCompletedIDs) {
			t.Fatalf("%d completions for %d jobs: %q", len(got), len(jobs), got)
		}
		status := map[string]string{}
		for _, j := range jobs {
			status[j.ID.String()] = string(j.Status)
		}
		sawTerminal := false
		for _, line := range got {
			id, desc, _ := strings.Cut(line, "\t")
			if status[id] == "" || desc != status[id] {
				t.Fatalf("completion %q is not a demo exportlogs job with its status", line)
			}
			terminal := desc == "done" || desc == "failed"
			if sawTerminal && !terminal {
				t.Fatalf("a job still moving comes after a finished one: %q", got)
			}
			sawTerminal = sawTerminal || terminal
		}
		prefix := jobs[0].ID.String()[:30]
		if got := complete(t, c, "job", "get", "exportlogs", prefix); len(got) != 1 || !strings.HasPrefix(got[0], jobs[0].ID.String()) {
			t.Errorf("completing %s: %q", prefix, got)
		}
	})
}

// jobTypeList2 is jobTypeList separated by spaces.
func jobTypeList2() string { return strings.ReplaceAll(jobTypeList(), ", ", " ") }
