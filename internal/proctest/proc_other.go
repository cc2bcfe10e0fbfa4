//go:build !linux

package proctest

import "syscall"

// sysProcAttr has nothing to set outside Linux: a process that dies without
// stopping its children leaves them running.
func sysProcAttr() *syscall.SysProcAttr { return nil }
