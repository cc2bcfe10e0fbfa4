//go:build !linux

package e2e_test

import "syscall"

// serverProcAttr has nothing to set outside Linux: a test binary that dies
// without stopping its server processes leaves them running.
func serverProcAttr() *syscall.SysProcAttr { return nil }
