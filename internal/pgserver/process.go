package pgserver

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
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Start starts the server, on the port it had before when it is restarted,
// and waits until it accepts connections. Starting a running server does
// nothing. A failure's error includes the server's log.
func (s *Server) Start() error { return s.start(context.Background()) }

// start is Start, with ctx bounding the wait for connections.
func (s *Server) start(ctx context.Context) error {
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
	fmt.Fprintf(logf, "--- %s: starting postgres on 127.0.0.1:%d at %s\n", s.opts.LogTag, s.port, time.Now().Format(time.RFC3339Nano))
	argv := []string{filepath.Join(s.opts.Bin, "postgres"),
		"-D", s.data,
		"-p", strconv.Itoa(s.port),
		"-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-F", // fsync off
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "shared_buffers=32MB",
		"-c", "logging_collector=off"}
	if s.opts.Wrap != nil {
		argv = s.opts.Wrap(argv)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	cmd.Env = Env()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr(s.owner, true)
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// The parent-death signal (Linux) fires when the thread that forked
		// the server exits: lock this goroutine to its thread, never unlock
		// it, and return only once the server has exited, so the server
		// dies with our process and not before.
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
	if err := waitReady(ctx, s.adminDSN(), exited); err != nil {
		if !isClosed(exited) {
			stopProcess(cmd, exited)
		}
		return fmt.Errorf("postgres on 127.0.0.1:%d did not start: %w; its log %s:\n%s", s.port, err, s.log, s.Log())
	}
	s.cmd, s.exited = cmd, exited
	return nil
}

// waitReady waits until the server at dsn accepts connections, or exits, or
// ctx is done.
func waitReady(ctx context.Context, dsn string, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgconn.Connect(cctx, dsn)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after %v: %w", readyTimeout, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("not accepting connections: %w", err)
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
// the superuser.
func (s *Server) AdminDSN() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adminDSN()
}

func (s *Server) adminDSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
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
