package e2e_test

import "syscall"

// serverProcAttr has the kernel kill a server process should the test binary
// die without stopping it. The parent-death signal fires when the thread that
// forked the process exits: startProcess forks from a goroutine locked to its
// thread until the process has exited.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
