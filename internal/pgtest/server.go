package pgtest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/polyjobs/polyjobs/internal/pgserver"
)

// Server is a PostgreSQL server pgtest started from the system binaries, in a
// temporary directory, listening on 127.0.0.1 only, with trust authentication
// for the superuser "postgres". Its methods are safe for concurrent use.
type Server struct {
	srv *pgserver.Server
}

// StartServer starts a PostgreSQL server for t alone, which t may Stop and
// Start again; it is stopped and its directory removed when t ends. It skips
// or fails t, as DSN does, when there are no PostgreSQL binaries: it always
// starts a server of its own, even when EnvDSN is set.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := pgserver.FindBinaries()
	if err != nil {
		unavailable(t, err.Error())
	}
	s, err := newServer(bin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(s.remove)
	return s
}

// newServer initializes a data directory with the binaries of bin and starts
// a server on it.
func newServer(bin string) (*Server, error) {
	srv, err := pgserver.New(context.Background(), pgserver.Options{Bin: bin, TempPrefix: "pgtest-", LogTag: "pgtest"})
	if err != nil {
		return nil, err
	}
	return &Server{srv: srv}, nil
}

// Start starts the server, on the port it had before when it is restarted,
// and waits until it accepts connections. Starting a running server does
// nothing. A failure's error includes the server's log.
func (s *Server) Start() error { return s.srv.Start() }

// Stop shuts the server down (a fast shutdown: clients are disconnected) and
// waits until it has exited. Stopping a stopped server does nothing. The data
// stays: Start brings the server back on the same port.
func (s *Server) Stop() error { return s.srv.Stop() }

// Running reports whether the server is started.
func (s *Server) Running() bool { return s.srv.Running() }

// Port returns the 127.0.0.1 TCP port the server listens on.
func (s *Server) Port() int { return s.srv.Port() }

// AdminDSN returns the postgres:// URL of the server's "postgres" database as
// the superuser, for tests that create roles or databases themselves.
func (s *Server) AdminDSN() string { return s.srv.AdminDSN() }

// DSN returns the postgres:// URL of a new, empty database on this server,
// dropped when t ends if the server is running then.
func (s *Server) DSN(t testing.TB) string {
	t.Helper()
	return createDatabase(t, s.AdminDSN(), s.Running)
}

// Log returns what the server has logged so far, for failure messages.
func (s *Server) Log() string { return s.srv.Log() }

// dir returns the server's temporary directory.
func (s *Server) dir() string { return s.srv.Dir() }

// remove stops the server and deletes its directory.
func (s *Server) remove() {
	if err := s.srv.Remove(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
}
