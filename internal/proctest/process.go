package proctest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec says how to start a process.
type Spec struct {
	Name string   // for messages
	Argv []string // the command and its arguments
	Env  []string // its environment; nil: Env()
	// Output receives the process's stdout and stderr; nil discards them
	// (the end is kept for messages all the same, see Tail).
	Output io.Writer
}

// Process is a running or exited child process.
type Process struct {
	Spec
	cmd    *exec.Cmd
	tail   tailBuffer
	exited chan struct{} // closed once the process has exited
	err    error         // its exit status, once exited is closed
}

// Start starts a process as spec says.
func Start(spec Spec) (*Process, error) {
	p := &Process{Spec: spec, exited: make(chan struct{})}
	p.cmd = exec.Command(spec.Argv[0], spec.Argv[1:]...)
	p.cmd.Env = spec.Env
	if p.cmd.Env == nil {
		p.cmd.Env = Env()
	}
	out := io.Writer(&p.tail)
	if spec.Output != nil {
		out = io.MultiWriter(spec.Output, &p.tail)
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = sysProcAttr()
	started := make(chan error, 1)
	go func() {
		// The parent-death signal (Linux) fires when the thread that forked
		// the process exits: fork from a locked thread, and return only once
		// the process has exited.
		runtime.LockOSThread()
		if err := p.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", spec.Name, spec.Argv[0], err)
	}
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

// Err returns the process's exit status once it has exited (nil for code 0).
func (p *Process) Err() error {
	<-p.exited
	return p.err
}

// Tail returns the end of the process's output, indented, for messages.
func (p *Process) Tail() string { return p.tail.String() }

// WaitReady calls probe every 25 ms until it succeeds, failing early when the
// process exits (a busy port, a bad flag, a database it cannot open) and
// after timeout. Its errors carry the end of the process's output.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration, probe func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := probe(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w; the end of its output:\n%s", p.Name, timeout, err, p.Tail())
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready (%v); the end of its output:\n%s", p.Name, p.err, p.Tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM and waits up to grace for the process to exit, then
// kills it. It returns an error unless the process exits with code 0 in time:
// when it had exited already, did not stop in time, or exited with a failure.
func (p *Process) Stop(grace time.Duration) error {
	if !p.Running() {
		return fmt.Errorf("%s exited before it was stopped (%v); the end of its output:\n%s", p.Name, p.err, p.Tail())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.Kill()
		return fmt.Errorf("%s: SIGTERM: %w", p.Name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s still running %v after SIGTERM; killed", p.Name, grace)
	}
	if p.err != nil {
		return fmt.Errorf("%s exited with %v after SIGTERM, want exit code 0; the end of its output:\n%s", p.Name, p.err, p.Tail())
	}
	return nil
}

// Kill kills the process if it runs and waits until it has exited.
func (p *Process) Kill() {
	if p.Running() {
		_ = p.cmd.Process.Kill()
	}
	<-p.exited
}

// Memory is a process's memory, in bytes, from /proc/PID/status (Linux).
type Memory struct {
	RSS  int64 // VmRSS: resident now
	Anon int64 // RssAnon: of which anonymous (heaps, stacks)
	File int64 // RssFile: of which file pages (the binary, mapped files)
	HWM  int64 // VmHWM: the peak of VmRSS
}

// Memory reads the process's memory from /proc/PID/status.
func (p *Process) Memory() (Memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if err != nil || !p.Running() {
		return Memory{}, fmt.Errorf("read the memory of %s: %v (running: %v)", p.Name, err, p.Running())
	}
	var m Memory
	for _, f := range []struct {
		name string
		v    *int64
	}{{"VmRSS", &m.RSS}, {"RssAnon", &m.Anon}, {"RssFile", &m.File}, {"VmHWM", &m.HWM}} {
		if *f.v, err = statusKB(b, f.name); err != nil {
			return Memory{}, err
		}
	}
	return m, nil
}

// statusKB extracts "Field:   12345 kB" from a /proc/PID/status file, in bytes.
func statusKB(status []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			if f := strings.Fields(rest); len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10, nil
				}
			}
			break
		}
	}
	return 0, fmt.Errorf("no %s line in kB in /proc/PID/status", field)
}

// tailSize is how much of a process's output a Process keeps.
const tailSize = 16 << 10

// tailBuffer keeps the last tailSize bytes written to it (and up to as
// many more until it trims). It is safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

// String returns the last lines kept, indented.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(t.buf[max(0, len(t.buf)-tailSize):])
	if len(t.buf) > tailSize {
		_, s, _ = strings.Cut(s, "\n") // a partial first line
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
