//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a process may take to shut down after its stop
// signal before it is killed.
const stopGrace = 15 * time.Second

// process is a child process (the server under test, PostgreSQL) whose
// output goes to a logTail.
type process struct {
	name       string
	cmd        *exec.Cmd
	out        *logTail
	stopSignal syscall.Signal
	exited     chan struct{} // closed once the process has exited
	waitErr    error         // its exit status, once exited is closed
	stopped    bool
}

// startProcess starts argv with env; cred runs it as another user (nil: as
// ourselves); stopSignal asks it to shut down, and the kernel sends it too
// should the soak die first.
func startProcess(name string, argv, env []string, cred *syscall.Credential, stopSignal syscall.Signal) (*process, error) {
	p := &process{name: name, out: &logTail{}, stopSignal: stopSignal, exited: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// A process group of its own: a Ctrl-C at the terminal reaches the soak
	// alone, which then stops its children in order (the server before the
	// database). Pdeathsig stops the child should the soak die first.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: stopSignal, Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, argv[0], err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// pid returns the process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// running reports whether the process has not exited.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// exitedError describes a process that exited on its own, with its output.
func (p *process) exitedError() error {
	return fmt.Errorf("%s exited unexpectedly (%v); the end of its output:\n%s", p.name, p.waitErr, p.out.tail())
}

// stop sends the stop signal, waits up to stopGrace, then kills. It returns
// an error when the process had exited on its own, did not stop in time, or
// stopped with a failure. Stopping twice does nothing.
func (p *process) stop() error {
	if p.stopped {
		return nil
	}
	p.stopped = true
	if !p.running() {
		return p.exitedError()
	}
	if err := p.cmd.Process.Signal(p.stopSignal); err != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %v of %v and was killed", p.name, stopGrace, p.stopSignal)
	}
	var ee *exec.ExitError
	if p.waitErr != nil && !(errors.As(p.waitErr, &ee) && signaled(ee, p.stopSignal)) {
		return fmt.Errorf("%s stopped with %v; the end of its output:\n%s", p.name, p.waitErr, p.out.tail())
	}
	return nil
}

// signaled reports an exit caused by sig, which a process that does not trap
// it reports as a failure.
func signaled(ee *exec.ExitError, sig syscall.Signal) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// procMemory is a process's memory, in bytes, from /proc/PID/status.
type procMemory struct {
	rss  int64 // VmRSS: resident now
	anon int64 // RssAnon: of which anonymous (heaps, stacks)
	file int64 // RssFile: of which file pages (the binary, mmap'd databases)
	hwm  int64 // VmHWM: the peak of VmRSS
}

// memory reads the process's memory from /proc/PID/status.
func (p *process) memory() (procMemory, error) {
	if !p.running() {
		return procMemory{}, p.exitedError()
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return procMemory{}, fmt.Errorf("read the RSS of %s: %w", p.name, err)
	}
	var m procMemory
	for _, f := range []struct {
		name string
		v    *int64
	}{{"VmRSS", &m.rss}, {"RssAnon", &m.anon}, {"RssFile", &m.file}, {"VmHWM", &m.hwm}} {
		if *f.v, err = statusKB(b, f.name); err != nil {
			return procMemory{}, err
		}
	}
	return m, nil
}

// statusKB extracts "Field:   12345 kB" from a /proc/PID/status file, in bytes.
func statusKB(status []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 2 && f[1] == "kB" {
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return kb << 10, nil
			}
		}
		break
	}
	return 0, fmt.Errorf("no %s line in kB in /proc/PID/status", field)
}

// freePorts returns n distinct TCP ports of 127.0.0.1 that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
		}
		defer l.Close() // held until all are found, so that they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
