//go:build unix && !linux

package pgtest

import "syscall"

// sysProcAttr runs a PostgreSQL program as owner (nil: as ourselves).
func sysProcAttr(owner *account, server bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if owner != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(owner.uid), Gid: uint32(owner.gid)}
	}
	return attr
}
