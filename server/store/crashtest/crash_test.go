// Package crashtest checks that the stores lose no acknowledged transition and
// never leave a job in an illegal state when the process writing to them is
// killed at random moments (SIGKILL: no deferred code, no clean close).
package crashtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/pgserver"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/postgres"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

func TestMain(m *testing.M) {
	if os.Getenv(driverEnv) != "" {
		os.Exit(drive(os.Getenv(driverEnv)))
	}
	pgserver.Main(m)
}

// driverEnv, when set to a DSN, turns the test binary into the driver: a
// process that creates jobs and moves them through their lifecycle as fast
// as it can, printing "ack <job id> <status>" after each committed change.
const driverEnv = "POLYJOBS_CRASHTEST_DRIVER"

// kills is how many times the driver is killed.
const kills = 50

func open(ctx context.Context, dsn string) (store.Store, error) {
	if strings.HasPrefix(dsn, "postgres") {
		return postgres.Open(ctx, dsn)
	}
	return sqlite.Open(ctx, dsn)
}

// drive runs until killed. Every line it prints is an acknowledgement of a
// change the store reported as committed.
func drive(dsn string) int {
	ctx := context.Background()
	s, err := open(ctx, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		return 2
	}
	org, err := s.OrganizationByName(ctx, "crash")
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	ack := func(id uuid.UUID, status store.JobStatus) {
		fmt.Fprintf(out, "ack %s %s\n", id, status)
		out.Flush()
	}
	for {
		job, err := s.CreateJob(ctx, org.ID, store.JobTypes()[rand.IntN(len(store.JobTypes()))])
		if err != nil {
			fmt.Fprintln(os.Stderr, "driver:", err)
			return 2
		}
		ack(job.ID, job.Status)
		steps := []store.Transition{store.Start()}
		switch rand.IntN(3) {
		case 0:
			steps = append(steps, store.Finish(json.RawMessage(fmt.Sprintf(`{"job":%q,"rows":[1,2,3]}`, job.ID))))
		case 1:
			steps = append(steps, store.Fail("failed "+job.ID.String()))
		default:
			steps = []store.Transition{store.Finish(json.RawMessage(`[1,2]`))}
		}
		for _, step := range steps {
			got, err := s.Transition(ctx, job.ID, step)
			if err != nil {
				fmt.Fprintln(os.Stderr, "driver:", err)
				return 2
			}
			ack(got.ID, got.Status)
		}
	}
}

func TestKilledWriterLosesNothing(t *testing.T) {
	cases := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "crash.db") },
		"postgres": func(t *testing.T) string { return pgserver.DSN(t) },
	}
	for name, dsnFor := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn := dsnFor(t)
			ctx := context.Background()
			s, err := open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			org, err := s.CreateOrganization(ctx, "crash")
			if err != nil {
				t.Fatal(err)
			}
			acked := map[uuid.UUID]store.JobStatus{}
			for i := 0; i < kills; i++ {
				runAndKill(t, dsn, acked)
			}
			if len(acked) < kills {
				t.Fatalf("only %d acknowledgements over %d runs: the driver's output was not read", len(acked), kills)
			}
			jobs, err := s.ListJobs(ctx, store.JobFilter{OrgID: org.ID})
			if err != nil {
				t.Fatal(err)
			}
			byID := map[uuid.UUID]store.Job{}
			for _, j := range jobs {
				byID[j.ID] = j
				checkLegal(t, j)
			}
			for id, status := range acked {
				j, ok := byID[id]
				if !ok {
					t.Fatalf("job %s was acknowledged as %s but is gone", id, status)
				}
				if !atLeast(j.Status, status) {
					t.Fatalf("job %s was acknowledged as %s but is %s: a lost update", id, status, j.Status)
				}
			}
			t.Logf("%d kills, %d jobs, %d acknowledged; all legal, none lost", kills, len(jobs), len(acked))
		})
	}
}

// runAndKill starts the driver, lets it work for a random moment, SIGKILLs it
// and records what it acknowledged.
func runAndKill(t *testing.T, dsn string, acked map[uuid.UUID]store.JobStatus) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), driverEnv+"="+dsn)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Kill after a random number of acknowledgements, so kills land at
	// every point of the lifecycle, including mid-commit.
	target := 1 + rand.IntN(60)
	deadline := time.After(20 * time.Second)
	n := 0
	for n < target {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("driver exited early: %s", stderr.String())
			}
			record(t, line, acked)
			n++
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("driver made no progress: %s", stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for line := range lines { // acknowledgements written before the kill
		record(t, line, acked)
	}
	cmd.Wait()
}

// record notes one acknowledgement. A line cut short by the kill is not one.
func record(t *testing.T, line string, acked map[uuid.UUID]store.JobStatus) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ack" {
		return
	}
	id, err := uuid.Parse(f[1])
	s := store.JobStatus(f[2])
	if err != nil || !s.Valid() {
		return
	}
	if atLeast(s, acked[id]) {
		acked[id] = s
	}
}

// atLeast reports whether status a is at or past b in the lifecycle.
func atLeast(a, b store.JobStatus) bool {
	rank := map[store.JobStatus]int{"": -1, api.JobStatusCreated: 0, api.JobStatusRunning: 1,
		api.JobStatusDone: 2, api.JobStatusFailed: 2}
	if store.IsTerminal(b) {
		return a == b
	}
	return rank[a] >= rank[b]
}

// checkLegal fails the test for a job whose fields contradict its status.
func checkLegal(t *testing.T, j store.Job) {
	t.Helper()
	switch {
	case !j.Status.Valid() || !j.Type.Valid():
		t.Fatalf("job %s: status %q type %q", j.ID, j.Status, j.Type)
	case j.Result != nil && j.Status != api.JobStatusDone:
		t.Fatalf("job %s is %s with a result", j.ID, j.Status)
	case (j.Error != "") != (j.Status == api.JobStatusFailed):
		t.Fatalf("job %s is %s with error %q", j.ID, j.Status, j.Error)
	case (j.FinishedAt != nil) != j.Terminal():
		t.Fatalf("job %s is %s with finished_at %v", j.ID, j.Status, j.FinishedAt)
	case j.Result != nil && !json.Valid(j.Result):
		t.Fatalf("job %s has an invalid result %q", j.ID, j.Result)
	}
}
