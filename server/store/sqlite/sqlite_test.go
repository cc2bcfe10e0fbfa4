package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
	"github.com/polyjobs/polyjobs/server/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "polyjobs.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// openNew opens a store on a new file called name, in the test's temporary
// directory, and returns it with the file's path; the caller closes it.
func openNew(t *testing.T, name string) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	s, path := openNew(t, "polyjobs.db")
	org, err := s.CreateOrganization(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if got, err := s.OrganizationByName(ctx, "acme"); err != nil || got.ID != org.ID {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
}

// TestOpenRefusesNewerSchema: a database a newer polyjobs upgraded is
// refused, not read and written without knowing its schema.
func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	s, path := openNew(t, "polyjobs.db")
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := sqlite.Open(ctx, path); err == nil || !strings.Contains(err.Error(), "schema is at version 999, newer than this polyjobs knows") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("opening a newer schema: %v; want a refusal that says so", err)
	}
}

// TestOpenUpToDateWhileLocked: a database already up to date opens while
// another connection holds the write lock, which a migration would wait for.
func TestOpenUpToDateWhileLocked(t *testing.T) {
	ctx := context.Background()
	s, path := openNew(t, "polyjobs.db")
	defer s.Close()
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `ROLLBACK`)
	other, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("opening an up-to-date database while another holds its write lock: %v", err)
	}
	other.Close()
}

func TestOpenRefusesMemory(t *testing.T) {
	if _, err := sqlite.Open(context.Background(), ":memory:"); err == nil {
		t.Fatal("Open(:memory:) succeeded")
	}
}

// TestUpgradeFromFirstSchema opens a database made by the first migration,
// with a job in it, and checks that the job survives the later migrations
// and that the database no longer restricts job types (the spec does).
func TestUpgradeFromFirstSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "polyjobs.db")
	first, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	org, job := uuid.NewString(), uuid.NewString()
	for _, stmt := range []string{
		string(first),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, 0)`,
		`INSERT INTO organizations VALUES ('` + org + `', 'acme', 0)`,
		`INSERT INTO jobs (id, org_id, type, status, result, created_at, updated_at, finished_at)
			VALUES ('` + job + `', '` + org + `', 'exportlogs', 'done', '{"url":"u"}', 1, 2, 2)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()

	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	got, err := s.Job(ctx, uuid.MustParse(org), uuid.MustParse(job))
	if err != nil || got.Status != "done" || string(got.Result) != `{"url":"u"}` {
		t.Fatalf("after upgrade: %+v, %v", got, err)
	}
	if _, err := s.DB().Exec(`INSERT INTO jobs (id, org_id, type, status, created_at, updated_at)
		VALUES (?, ?, 'a-type-added-to-the-spec', 'created', 3, 3)`, uuid.NewString(), org); err != nil {
		t.Fatalf("the database still restricts job types: %v", err)
	}
	if _, err := s.DB().Exec(`INSERT INTO jobs (id, org_id, type, status, created_at, updated_at)
		VALUES (?, ?, 'exportlogs', 'paused', 3, 3)`, uuid.NewString(), org); err == nil {
		t.Fatal("the database accepted a status outside the lifecycle")
	}
}

// TestFilesArePrivate: the database and its -wal and -shm files are created
// readable by their owner only; results may be confidential.
func TestFilesArePrivate(t *testing.T) {
	ctx := context.Background()
	s, path := openNew(t, "private.db")
	defer s.Close()
	if _, err := s.CreateOrganization(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != sqlite.FileMode {
			t.Errorf("%s: mode %v; want %v", filepath.Base(name), mode, sqlite.FileMode)
		}
	}
}

// TestPingNoticesDeletedOrReplacedFile: a server must not go on serving a
// database file that is no longer the one at its path.
func TestPingNoticesDeletedOrReplacedFile(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(path string) error
		want   string
	}{
		{"deleted", os.Remove, "deleted"},
		{"replaced", func(path string) error {
			other := path + ".new"
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				return err
			}
			return os.Rename(other, path)
		}, "replaced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "polyjobs.db")
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("Ping before: %v", err)
			}
			if err := tc.change(path); err != nil {
				t.Fatal(err)
			}
			if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Ping after the file was %s: %v; want an error saying so", tc.name, err)
			}
		})
	}
}
