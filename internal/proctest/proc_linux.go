package proctest

import "syscall"

// sysProcAttr has the kernel kill the process should ours die without
// stopping it, and puts it in a process group of its own, so that a Ctrl-C
// at the terminal reaches our process alone, which then stops its children.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
