// Package pgserver starts throwaway PostgreSQL servers from the system's
// binaries (the newest /usr/lib/postgresql/*/bin, else initdb on PATH): in a
// temporary directory, on a free 127.0.0.1 port, with trust authentication
// for the superuser "postgres" and fsync off. As root, which initdb refuses
// to be, the server runs as the "postgres" system user.
//
// Tests get a database of their own with DSN (on the server named by
// POLYJOBS_TEST_POSTGRES, or on one throwaway server per test binary, stopped
// by Main) or a server of their own with StartServer. Without PostgreSQL
// they skip loudly, or fail when POLYJOBS_REQUIRE_POSTGRES is set. The
// benchmarks under bench/, which run outside testing, use New directly.
package pgserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Timeouts of the server's life cycle.
const (
	// readyTimeout bounds how long a starting server may take to accept connections.
	readyTimeout = 60 * time.Second
	// stopTimeout bounds a fast shutdown before the server is killed.
	stopTimeout = 30 * time.Second
)

// Options says how to start a server. The zero value is fine.
type Options struct {
	// Bin is the directory of initdb and postgres; empty: findBinaries.
	Bin string
	// TempPrefix is the os.MkdirTemp pattern of the server's directory;
	// empty: "pgserver-".
	TempPrefix string
	// LogTag names the starter in the line written to the log before each
	// start; empty: "pgserver".
	LogTag string
	// Wrap, if set, rewrites the postgres command line, for instance to run
	// it under taskset or nice. The wrapper must exec the command, so that
	// the process is the postmaster itself.
	Wrap func(argv []string) []string
}

// Server is a PostgreSQL server started from the system binaries, in a
// temporary directory, listening on 127.0.0.1 only. Its methods are safe for
// concurrent use.
type Server struct {
	opts  Options
	owner *Account // the user PostgreSQL runs as, nil for the current one
	dir   string   // temporary root: data directory, socket, logs
	data  string   // the data directory, dir/data
	log   string   // the server's log file, dir/postgres.log

	mu      sync.Mutex
	port    int
	cmd     *exec.Cmd     // the running postmaster, nil when stopped
	exited  chan struct{} // closed when cmd has exited
	waitErr error         // cmd's exit status, once exited is closed
}

// New initializes a data directory and starts a server on it, on a free
// port, waiting until it accepts connections. ctx bounds initdb and the
// first start. Errors that mean PostgreSQL cannot be had here match
// ErrUnavailable. The caller must Remove the server.
func New(ctx context.Context, opts Options) (s *Server, err error) {
	if opts.Bin == "" {
		if opts.Bin, err = findBinaries(); err != nil {
			return nil, err
		}
	}
	if opts.TempPrefix == "" {
		opts.TempPrefix = "pgserver-"
	}
	if opts.LogTag == "" {
		opts.LogTag = "pgserver"
	}
	owner, err := ServerAccount()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", opts.TempPrefix)
	if err != nil {
		return nil, err
	}
	s = &Server{opts: opts, owner: owner, dir: dir, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "postgres.log")}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if owner != nil {
		if err := os.Chown(dir, owner.UID, owner.GID); err != nil {
			return nil, fmt.Errorf("give %s to user %s: %w", dir, owner.Name, err)
		}
	}
	if err := s.initdb(ctx); err != nil {
		return nil, err
	}
	// A free port may be taken between the probe and the server's bind: try
	// a few.
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		if err = s.start(ctx); err == nil || attempt == 3 || ctx.Err() != nil {
			return s, err
		}
	}
}

// initdb creates the data directory.
func (s *Server) initdb(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, filepath.Join(s.opts.Bin, "initdb"),
		"--pgdata", s.data, "--username", "postgres", "--auth", "trust",
		"--encoding", "UTF8", "--no-locale", "--no-sync")
	cmd.Dir = s.dir
	cmd.Env = Env()
	cmd.SysProcAttr = sysProcAttr(s.owner, false)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", s.data, err, out)
	}
	return nil
}

// Dir returns the server's temporary directory, which Remove deletes.
func (s *Server) Dir() string { return s.dir }

// Version returns what `postgres --version` prints, or "" if it fails.
func (s *Server) Version() string {
	out, err := exec.Command(filepath.Join(s.opts.Bin, "postgres"), "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// Log returns what the server has logged so far, for failure messages.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	return string(b)
}

// Remove stops the server and deletes its directory. It returns Stop's error.
func (s *Server) Remove() error {
	err := s.Stop()
	os.RemoveAll(s.dir)
	return err
}
