//go:build linux

package harness

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// StopGrace is how long a process may take to shut down after its stop
// signal before it is killed.
const StopGrace = 15 * time.Second

// Spec says how to start a process.
type Spec struct {
	Name string   // for messages
	Argv []string // the command
	Env  []string // its environment
	// Output receives the process's stdout and stderr.
	Output io.Writer
	// Tail returns the end of the output, for error messages.
	Tail func() string
	// Cred runs the process as another user (nil: as ourselves).
	Cred *syscall.Credential
	// StopSignal asks the process to shut down (default SIGTERM); the kernel
	// also sends it should the harness die first.
	StopSignal syscall.Signal
	// Setpgid puts the process in a process group of its own, so that a
	// Ctrl-C at the terminal reaches the harness alone, which then stops its
	// children in order.
	Setpgid bool
}

// Process is a child process of a benchmark: a server under test, or its
// database.
type Process struct {
	Spec
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has exited
	waitErr error         // its exit status, once exited is closed
	stopped bool          // Stop was called
}

// Start starts a process as spec says.
func Start(spec Spec) (*Process, error) {
	if spec.StopSignal == 0 {
		spec.StopSignal = syscall.SIGTERM
	}
	if spec.Tail == nil {
		spec.Tail = func() string { return "    (not kept)" }
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Env = spec.Env
	cmd.Stdout, cmd.Stderr = spec.Output, spec.Output
	// Pdeathsig: the child goes away with the harness, even on a crash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: spec.Cred, Pdeathsig: spec.StopSignal, Setpgid: spec.Setpgid}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", spec.Name, spec.Argv[0], err)
	}
	p := &Process{Spec: spec, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Running reports whether the process has not exited.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// ExitedError describes a process that exited on its own, with its output.
func (p *Process) ExitedError() error {
	return fmt.Errorf("%s exited unexpectedly (%v); the end of its output:\n%s", p.Name, p.waitErr, p.Tail())
}

// Stop sends the stop signal, waits up to StopGrace, then kills. It returns
// an error when the process had exited on its own, did not stop in time, or
// stopped with a failure. Stopping twice does nothing.
func (p *Process) Stop() error {
	if p.stopped {
		return nil
	}
	p.stopped = true
	if !p.Running() {
		return p.ExitedError()
	}
	if err := p.cmd.Process.Signal(p.StopSignal); err != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.exited:
	case <-time.After(StopGrace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %v of %v and was killed", p.Name, StopGrace, p.StopSignal)
	}
	var ee *exec.ExitError
	if p.waitErr != nil && !(errors.As(p.waitErr, &ee) && signaled(ee, p.StopSignal)) {
		return fmt.Errorf("%s stopped with %v; the end of its output:\n%s", p.Name, p.waitErr, p.Tail())
	}
	return nil
}

// signaled reports an exit caused by sig, the harness's own stop signal, which
// a process that does not trap it reports as a failure.
func signaled(ee *exec.ExitError, sig syscall.Signal) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}
