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

// stopGrace is how long a server may take to shut down after SIGTERM before
// it is killed.
const stopGrace = 15 * time.Second

// procSpec says how to start a process.
type procSpec struct {
	name    string   // for messages
	argv    []string // the command
	env     []string // its environment
	place   placement
	logPath string // receives stdout and stderr
	// cred runs the process as another user (nil: as ourselves).
	cred *syscall.Credential
	// stopSignal asks the process to shut down (default SIGTERM); the kernel
	// also sends it should the harness die first.
	stopSignal syscall.Signal
}

// process is a server under test (or its database), started by the harness
// with its output in a log file.
type process struct {
	procSpec
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has exited
	waitErr error         // its exit status, once exited is closed
	stopped bool          // stop was called
}

// placement is where and how eagerly a process runs.
type placement struct {
	cpus string // taskset CPU list, empty for any CPU
	nice int    // niceness, 0 for the default
}

// wrap prefixes argv with nice and taskset as p says. Both exec the command,
// so the process id is the command's own.
func (p placement) wrap(argv []string) []string {
	if p.cpus != "" {
		argv = append([]string{"taskset", "-c", p.cpus}, argv...)
	}
	if p.nice != 0 {
		argv = append([]string{"nice", "-n", strconv.Itoa(p.nice)}, argv...)
	}
	return argv
}

// startProcess starts a process as spec says.
func startProcess(spec procSpec) (*process, error) {
	if spec.stopSignal == 0 {
		spec.stopSignal = syscall.SIGTERM
	}
	logf, err := os.Create(spec.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	argv := spec.place.wrap(spec.argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = spec.env
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: the server goes away with the harness, even on a crash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: spec.cred, Pdeathsig: spec.stopSignal}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", spec.name, argv[0], err)
	}
	p := &process{procSpec: spec, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// running reports whether the process has not exited.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// exitedError describes a process that exited on its own, with its log.
func (p *process) exitedError() error {
	return fmt.Errorf("%s exited unexpectedly (%v); the end of its log:\n%s", p.name, p.waitErr, p.logTail(20))
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func (p *process) peakRSS() (int64, error) {
	if !p.running() {
		return 0, p.exitedError()
	}
	return readVmHWM(p.cmd.Process.Pid)
}

// readVmHWM reads VmHWM from /proc/PID/status, in bytes.
func readVmHWM(pid int) (int64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	return parseVmHWM(b)
}

// parseVmHWM extracts "VmHWM:   12345 kB" from a /proc/PID/status file.
func parseVmHWM(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, errors.New("peak RSS: no VmHWM line in /proc/PID/status")
}

// stop sends the stop signal, waits up to stopGrace, then kills. It returns
// an error when the process had exited on its own before, or did not stop
// gracefully.
func (p *process) stop() error {
	if p.stopped {
		return nil
	}
	p.stopped = true
	if !p.running() {
		return p.exitedError()
	}
	if err := p.cmd.Process.Signal(p.stopSignal); err != nil {
		p.cmd.Process.Kill()
	}
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %v of %v and was killed", p.name, stopGrace, p.stopSignal)
	}
	var ee *exec.ExitError
	if p.waitErr != nil && !(errors.As(p.waitErr, &ee) && signaled(ee, p.stopSignal)) {
		return fmt.Errorf("%s stopped with %v; the end of its log:\n%s", p.name, p.waitErr, p.logTail(20))
	}
	return nil
}

// logTail returns the last n lines of the process's log.
func (p *process) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// signaled reports an exit caused by sig, the harness's own stop signal, which
// a process that does not trap it reports as a failure.
func signaled(ee *exec.ExitError, sig syscall.Signal) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}
