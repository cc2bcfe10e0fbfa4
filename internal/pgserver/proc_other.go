//go:build !unix

package pgserver

import "syscall"

// sysProcAttr has nothing to set outside Unix, where we never run as
// root.
func sysProcAttr(owner *Account, server bool) *syscall.SysProcAttr { return nil }
