package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Environment variables the test helpers read.
const (
	// EnvDSN names a postgres:// URL of a server on which the tests may create
	// and drop databases. When it is set, DSN uses that server and starts none.
	EnvDSN = "POLYJOBS_TEST_POSTGRES"
	// EnvRequire, when set to anything, turns "PostgreSQL is unavailable" from
	// a skip into a test failure.
	EnvRequire = "POLYJOBS_REQUIRE_POSTGRES"
)

// dbTimeout bounds creating or dropping a test database.
const dbTimeout = 30 * time.Second

// shared is the server DSN starts, once per test binary, when EnvDSN is unset.
var shared struct {
	once sync.Once
	srv  *Server
	// unavailable says why no server could be found (skip or fail the test);
	// err why a found server did not start (fail the test).
	unavailable string
	err         error
}

// mainUsed records that the test binary runs its tests through Main.
var mainUsed atomic.Bool

// Main runs the tests of m, then stops and removes the server DSN started, if
// any, and exits with the tests' status. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgserver.Main(m) }
//
// Without it the server is stopped when the test binary exits (on Linux) but
// its temporary directory is left behind.
func Main(m *testing.M) {
	mainUsed.Store(true)
	code := m.Run()
	if shared.srv != nil {
		shared.srv.remove()
	}
	os.Exit(code)
}

// DSN returns the postgres:// URL of a new, empty database for t, dropped when
// t ends. The database lives on the server named by EnvDSN if it is set,
// otherwise on a throwaway server started once per test binary. When
// PostgreSQL is unavailable, DSN skips t with a loud message, or fails it when
// EnvRequire is set, as CI does.
func DSN(t testing.TB) string {
	t.Helper()
	if admin := os.Getenv(EnvDSN); admin != "" {
		return createTestDatabase(t, admin, nil)
	}
	return sharedServer(t).DSN(t)
}

// StartServer starts a PostgreSQL server for t alone, which t may Stop and
// Start again (to check that an application recovers from a database
// outage); it is stopped and its directory removed when t ends. It skips or
// fails t, as DSN does, when there are no PostgreSQL binaries: it always
// starts a server of its own, even when EnvDSN is set.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinaries()
	if err != nil {
		unavailable(t, err.Error())
	}
	s, err := newTestServer(bin)
	if err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	t.Cleanup(s.remove)
	return s
}

// DSN returns the postgres:// URL of a new, empty database on this server,
// dropped when t ends if the server is running then.
func (s *Server) DSN(t testing.TB) string {
	t.Helper()
	return createTestDatabase(t, s.AdminDSN(), s.Running)
}

// newTestServer starts a server for tests with the binaries of bin.
func newTestServer(bin string) (*Server, error) {
	return New(context.Background(), Options{Bin: bin, TempPrefix: "pgserver-test-", LogTag: "pgserver test"})
}

// remove stops the server and deletes its directory, saying so on failure.
func (s *Server) remove() {
	if err := s.Remove(); err != nil {
		fmt.Fprintf(os.Stderr, "pgserver: %v\n", err)
	}
}

// sharedServer returns the server of this test binary, starting it on first
// use, or skips or fails t when there can be none.
func sharedServer(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		bin, err := findBinaries()
		if err != nil {
			shared.unavailable = err.Error()
			return
		}
		shared.srv, shared.err = newTestServer(bin)
		if shared.err == nil && !mainUsed.Load() {
			fmt.Fprintf(os.Stderr, "pgserver: TestMain does not call pgserver.Main: the PostgreSQL server of this test binary "+
				"is stopped only when the process exits, and %s is left behind\n", shared.srv.Dir())
		}
	})
	if shared.unavailable != "" {
		unavailable(t, shared.unavailable)
	}
	if shared.err != nil {
		t.Fatalf("pgserver: %v", shared.err)
	}
	return shared.srv
}

// loudOnce prints the skip notice to stderr once per binary, besides t.Skip.
var loudOnce sync.Once

// unavailable skips t, loudly, because PostgreSQL cannot be had, or fails it
// when EnvRequire is set.
func unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(EnvRequire) != "" {
		t.Fatalf("pgserver: PostgreSQL is required (%s is set) but unavailable: %s; set %s to a server's URL or install postgresql",
			EnvRequire, reason, EnvDSN)
	}
	msg := fmt.Sprintf("SKIPPING PostgreSQL tests: %s; set %s or install postgresql", reason, EnvDSN)
	loudOnce.Do(func() { fmt.Fprintf(os.Stderr, "\n*** %s ***\n\n", msg) })
	t.Skip(msg)
}

// createTestDatabase creates a database with a unique name on the server of
// adminDSN and returns its URL. The database is dropped when t ends, if alive
// (nil: the server is someone else's and must be running) says the server is
// up; a failed drop fails t only on someone else's server, where it would
// leak.
func createTestDatabase(t testing.TB, adminDSN string, alive func() bool) string {
	t.Helper()
	name := UniqueName("test_")
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	dsn, err := CreateDatabase(ctx, adminDSN, name)
	if errors.Is(err, ErrNotURL) {
		t.Fatalf("pgserver: %s must be a postgres:// URL", EnvDSN)
	}
	if err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	t.Cleanup(func() {
		if alive != nil && !alive() {
			return // the whole server goes away
		}
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		if err := DropDatabase(ctx, adminDSN, name); err != nil {
			if alive == nil {
				u, _ := url.Parse(adminDSN)
				t.Errorf("pgserver: drop database %s on %s: %v", name, u.Redacted(), err)
			} else {
				t.Logf("pgserver: drop database %s: %v", name, err)
			}
		}
	})
	return dsn
}
