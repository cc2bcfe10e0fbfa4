// Package pgtest gives tests a PostgreSQL database of their own.
//
// DSN returns the URL of a fresh, empty database, created for the test and
// dropped when it ends. The databases live on the server named by
// POLYJOBS_TEST_POSTGRES if it is set, otherwise on a throwaway server that
// pgtest starts once per test binary from the system's PostgreSQL binaries
// (the newest /usr/lib/postgresql/*/bin, else initdb on PATH): in a temporary
// directory, on a free 127.0.0.1 port, with trust authentication and fsync
// off. As root, which initdb refuses to be, the server runs as the "postgres"
// system user.
//
// A package whose tests use DSN should stop that server when its tests end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without it the server is stopped when the test binary exits (on Linux) but
// its temporary directory is left behind.
//
// When PostgreSQL is unavailable (no POLYJOBS_TEST_POSTGRES and no binaries),
// the tests that need it are skipped with a loud message, or fail when
// POLYJOBS_REQUIRE_POSTGRES is set, as CI does.
//
// StartServer starts a dedicated server for one test, which the test may stop
// and start again, for instance to check that an application recovers from a
// database outage.
package pgtest

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/polyjobs/polyjobs/internal/pgserver"
)

// Environment variables pgtest reads.
const (
	// EnvDSN names a postgres:// URL of a server on which the tests may create
	// and drop databases. When it is set, DSN uses that server and starts none.
	EnvDSN = "POLYJOBS_TEST_POSTGRES"
	// EnvRequire, when set to anything, turns "PostgreSQL is unavailable" from
	// a skip into a test failure.
	EnvRequire = "POLYJOBS_REQUIRE_POSTGRES"
)

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
// any, and exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	mainUsed.Store(true)
	code := m.Run()
	if shared.srv != nil {
		shared.srv.remove()
	}
	os.Exit(code)
}

// DSN returns the postgres:// URL of a new, empty database for t, dropped when
// t ends. See the package documentation for where the server comes from.
func DSN(t testing.TB) string {
	t.Helper()
	if admin := os.Getenv(EnvDSN); admin != "" {
		return createDatabase(t, admin, nil)
	}
	srv := sharedServer(t)
	return srv.DSN(t)
}

// sharedServer returns the server of this test binary, starting it on first
// use, or skips or fails t when there can be none.
func sharedServer(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		bin, err := pgserver.FindBinaries()
		if err != nil {
			shared.unavailable = err.Error()
			return
		}
		shared.srv, shared.err = newServer(bin)
		if shared.err == nil && !mainUsed.Load() {
			fmt.Fprintf(os.Stderr, "pgtest: TestMain does not call pgtest.Main: the PostgreSQL server of this test binary "+
				"is stopped only when the process exits, and %s is left behind\n", shared.srv.dir())
		}
	})
	if shared.unavailable != "" {
		unavailable(t, shared.unavailable)
	}
	if shared.err != nil {
		t.Fatalf("pgtest: %v", shared.err)
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
		t.Fatalf("pgtest: PostgreSQL is required (%s is set) but unavailable: %s; set %s to a server's URL or install postgresql",
			EnvRequire, reason, EnvDSN)
	}
	msg := fmt.Sprintf("SKIPPING PostgreSQL tests: %s; set %s or install postgresql", reason, EnvDSN)
	loudOnce.Do(func() { fmt.Fprintf(os.Stderr, "\n*** %s ***\n\n", msg) })
	t.Skip(msg)
}
