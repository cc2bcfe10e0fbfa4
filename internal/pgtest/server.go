package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Timeouts of the server's life cycle.
const (
	// readyTimeout bounds how long a starting server may take to accept connections.
	readyTimeout = 60 * time.Second
	// stopTimeout bounds a fast shutdown before the server is killed.
	stopTimeout = 30 * time.Second
)

// Server is a PostgreSQL server pgtest started from the system binaries, in a
// temporary directory, listening on 127.0.0.1 only, with trust authentication
// for the superuser "postgres". Its methods are safe for concurrent use.
type Server struct {
	bin   string   // directory of initdb and postgres
	owner *account // the user PostgreSQL runs as, nil for the current one
	dir   string   // temporary root: data directory, socket, logs
	data  string   // the data directory, dir/data
	log   string   // the server's log file, dir/postgres.log

	mu      sync.Mutex
	port    int
	cmd     *exec.Cmd     // the running postmaster, nil when stopped
	exited  chan struct{} // closed when cmd has exited
	waitErr error         // cmd's exit status, once exited is closed
}

// StartServer starts a PostgreSQL server for t alone, which t may Stop and
// Start again; it is stopped and its directory removed when t ends. It skips
// or fails t, as DSN does, when there are no PostgreSQL binaries: it always
// starts a server of its own, even when EnvDSN is set.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinaries()
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
func newServer(bin string) (s *Server, err error) {
	owner, err := serverAccount()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s = &Server{bin: bin, owner: owner, dir: dir, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "postgres.log")}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if owner != nil {
		if err := os.Chown(dir, owner.uid, owner.gid); err != nil {
			return nil, fmt.Errorf("give %s to user %s: %w", dir, owner.name, err)
		}
	}
	if err := s.initdb(); err != nil {
		return nil, err
	}
	// A free port may be taken between the probe and the server's bind: try
	// a few.
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		if err = s.Start(); err == nil || attempt == 3 {
			return s, err
		}
	}
}

// initdb creates the data directory.
func (s *Server) initdb() error {
	cmd := exec.Command(filepath.Join(s.bin, "initdb"),
		"--pgdata", s.data, "--username", "postgres", "--auth", "trust",
		"--encoding", "UTF8", "--no-locale", "--no-sync")
	cmd.Dir = s.dir
	cmd.Env = serverEnv()
	cmd.SysProcAttr = sysProcAttr(s.owner, false)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", s.data, err, out)
	}
	return nil
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the server, on the port it had before when it is restarted,
// and waits until it accepts connections. Starting a running server does
// nothing. A failure's error includes the server's log.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && !isClosed(s.exited) {
		return nil
	}
	s.cmd = nil // it may have died on its own
	logf, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "--- pgtest: starting postgres on 127.0.0.1:%d at %s\n", s.port, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(filepath.Join(s.bin, "postgres"),
		"-D", s.data,
		"-p", strconv.Itoa(s.port),
		"-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-F", // fsync off
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "shared_buffers=32MB",
		"-c", "logging_collector=off")
	cmd.Dir = s.dir
	cmd.Env = serverEnv()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr(s.owner, true)
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// The parent-death signal (Linux) fires when the thread that forked
		// the server exits: lock this goroutine to its thread, never unlock
		// it, and return only once the server has exited, so the server
		// dies with the test binary and not before.
		runtime.LockOSThread()
		defer logf.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	if err := waitReady(s.adminDSN(), exited); err != nil {
		if !isClosed(exited) {
			stopProcess(cmd, exited)
		}
		return fmt.Errorf("postgres on 127.0.0.1:%d did not start: %w; its log %s:\n%s", s.port, err, s.log, s.Log())
	}
	s.cmd, s.exited = cmd, exited
	return nil
}

// waitReady waits until the server at dsn accepts connections, or exits.
func waitReady(dsn string, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgconn.Connect(ctx, dsn)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after %v: %w", readyTimeout, err)
		}
		select {
		case <-exited:
			return errors.New("the server exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down (a fast shutdown: clients are disconnected) and
// waits until it has exited. Stopping a stopped server does nothing. The data
// stays: Start brings the server back on the same port.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	stopProcess(s.cmd, s.exited)
	s.cmd = nil
	var ee *exec.ExitError
	if s.waitErr != nil && !errors.As(s.waitErr, &ee) {
		return fmt.Errorf("stop postgres: %w", s.waitErr)
	}
	return nil
}

// stopProcess asks the postmaster for a fast shutdown (SIGINT), kills it if
// it is still there after stopTimeout, and waits for it to exit.
func stopProcess(cmd *exec.Cmd, exited <-chan struct{}) {
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		cmd.Process.Kill()
	}
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		cmd.Process.Kill()
		<-exited
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Running reports whether the server is started.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil && !isClosed(s.exited)
}

// Port returns the 127.0.0.1 TCP port the server listens on.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}

// AdminDSN returns the postgres:// URL of the server's "postgres" database as
// the superuser, for tests that create roles or databases themselves.
func (s *Server) AdminDSN() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adminDSN()
}

func (s *Server) adminDSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// DSN returns the postgres:// URL of a new, empty database on this server,
// dropped when t ends if the server is running then.
func (s *Server) DSN(t testing.TB) string {
	t.Helper()
	return createDatabase(t, s.AdminDSN(), s.Running)
}

// Log returns what the server has logged so far, for failure messages.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	return string(b)
}

// remove stops the server and deletes its directory.
func (s *Server) remove() {
	if err := s.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	os.RemoveAll(s.dir)
}
