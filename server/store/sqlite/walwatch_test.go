package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/store"
)

// writerEnv makes the test binary a writer process: "DB|JOB" transitions JOB
// in DB to running, then exits.
const writerEnv = "POLYJOBS_SQLITE_TEST_WRITER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(writerEnv); spec != "" {
		var db, id string
		if _, err := fmt.Sscanf(spec, "%s %s", &db, &id); err != nil {
			os.Exit(2)
		}
		s, err := Open(context.Background(), db)
		if err != nil {
			os.Exit(3)
		}
		if _, err := s.Transition(context.Background(), uuid.MustParse(id), store.Start()); err != nil {
			os.Exit(4)
		}
		s.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func openPair(t *testing.T) (reader, writer *Store, org store.Organization) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "watch.db")
	ctx := context.Background()
	var err error
	if reader, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	if writer, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close(); writer.Close() })
	if !reader.Watched() {
		t.Fatal("the store does not watch the WAL-index header")
	}
	org, err = writer.CreateOrganization(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	return reader, writer, org
}

// token returns the store's change token, failing the test when it has none.
func token(t *testing.T, s *Store) store.ChangeToken {
	t.Helper()
	tok, ok := s.ChangeToken()
	if !ok {
		t.Fatal("no change token")
	}
	return tok
}

// TestChangeTokenMovesOnEveryCommit: the token stays put while nothing is
// committed, reads included, and moves with any commit of any connection pool.
func TestChangeTokenMovesOnEveryCommit(t *testing.T) {
	ctx := context.Background()
	reader, writer, org := openPair(t)
	job, _ := writer.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
	before := token(t, reader)
	for i := 0; i < 10; i++ {
		if _, err := reader.Job(ctx, org.ID, job.ID); err != nil {
			t.Fatal(err)
		}
	}
	if token(t, reader) != before {
		t.Fatal("reads moved the change token")
	}
	writer.CreateJob(ctx, org.ID, api.JobTypeSampleModel)
	after := token(t, reader)
	if after == before {
		t.Fatal("a commit by another pool left the change token as it was")
	}
	if _, err := reader.Transition(ctx, job.ID, store.Start()); err != nil {
		t.Fatal(err)
	}
	if token(t, reader) == after {
		t.Fatal("a commit by the store itself left the change token as it was")
	}
}

// TestEveryCommitIsSeen interleaves writes by another connection pool with
// reads: every commit moves the token, and every read sees it.
func TestEveryCommitIsSeen(t *testing.T) {
	ctx := context.Background()
	reader, writer, org := openPair(t)
	for i := 0; i < 200; i++ {
		job, _ := writer.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
		steps := []store.Transition{store.Start(), store.Finish(json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)))}
		if i%2 == 1 {
			steps[1] = store.Fail(fmt.Sprintf("failure %d", i))
		}
		if got, _ := reader.Job(ctx, org.ID, job.ID); got.Status != api.JobStatusCreated {
			t.Fatalf("job %d: %s; want created", i, got.Status)
		}
		for _, step := range steps {
			before := token(t, reader)
			want, err := writer.Transition(ctx, job.ID, step)
			if token(t, reader) == before {
				t.Fatalf("job %d: the commit of %s left the token as it was", i, step.To)
			}
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < 2; k++ {
				got, err := reader.Job(ctx, org.ID, job.ID)
				if err != nil || got.Status != want.Status || string(got.Result) != string(want.Result) || got.Error != want.Error {
					t.Fatalf("job %d after %s: read %+v, %v; want %+v", i, step.To, got, err, want)
				}
			}
		}
	}
}

// TestCommitByAnotherProcessIsSeen runs the writer in a separate process.
func TestCommitByAnotherProcessIsSeen(t *testing.T) {
	ctx := context.Background()
	reader, writer, org := openPair(t)
	for i := 0; i < 5; i++ {
		job, _ := writer.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
		if got, _ := reader.Job(ctx, org.ID, job.ID); got.Status != api.JobStatusCreated {
			t.Fatalf("before: %s", got.Status)
		}
		before := token(t, reader)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), writerEnv+"="+reader.path+" "+job.ID.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("writer process: %v %s", err, out)
		}
		if token(t, reader) == before {
			t.Fatal("a commit by another process left the token as it was")
		}
		if got, err := reader.Job(ctx, org.ID, job.ID); err != nil || got.Status != api.JobStatusRunning {
			t.Fatalf("after another process started the job: %+v, %v; want running", got, err)
		}
	}
}

// TestConcurrentProcessesWithWatchedStore opens and closes several stores in
// this process (sharing the -shm mapping) while writer processes come and go:
// no lock of SQLite's may be lost, so every write and read succeeds.
func TestConcurrentProcessesWithWatchedStore(t *testing.T) {
	ctx := context.Background()
	reader, writer, org := openPair(t)
	var jobs []uuid.UUID
	for i := 0; i < 12; i++ {
		j, err := writer.CreateJob(ctx, org.ID, api.JobTypeExportLogs)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j.ID)
	}
	errs := make(chan error, len(jobs))
	for _, id := range jobs {
		go func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), writerEnv+"="+reader.path+" "+id.String())
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("writer process: %v %s", err, out)
			}
			errs <- err
		}()
	}
	// Meanwhile stores of this process open and close on the same file.
	for i := 0; i < 20; i++ {
		s, err := Open(ctx, reader.path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Job(ctx, org.ID, jobs[i%len(jobs)]); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	for range jobs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range jobs {
		if got, err := reader.Job(ctx, org.ID, id); err != nil || got.Status != api.JobStatusRunning {
			t.Fatalf("job %s: %+v, %v; want running", id, got, err)
		}
	}
}

// TestUnmappedWALWatch: where the -shm file could not be mapped (no mmap on
// the platform, an unexpected mapping), a store works without a change
// token, a second store of the same file too, and the last to close
// releases the file.
func TestUnmappedWALWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "unmapped.db")
	shmPath, err := filepath.Abs(path + "-shm")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(shmPath)
	if err != nil {
		t.Fatal(err)
	}
	// As openWALWatch registers a file it failed to map.
	shm.Lock()
	shm.add(shmPath, &sharedShm{f: f, refs: 1})
	shm.Unlock()
	ctx := context.Background()
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{a, b} {
		if _, ok := s.ChangeToken(); ok || s.Watched() {
			t.Fatal("a store of an unmapped -shm file has a change token")
		}
		if _, err := s.CreateOrganization(ctx, "acme-"+uuid.NewString()); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	b.Close()
	releaseWALWatch(path) // the registration made above
	shm.Lock()
	_, held := shm.files[shmPath]
	shm.Unlock()
	if held {
		t.Fatal("the -shm file is still held once every store closed")
	}
}
