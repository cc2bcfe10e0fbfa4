//go:build !unix

package pgtest

import "syscall"

// sysProcAttr has nothing to set outside Unix, where the tests never run as
// root.
func sysProcAttr(owner *account, server bool) *syscall.SysProcAttr { return nil }
