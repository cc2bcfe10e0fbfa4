//go:build unix && !linux

package pgserver

import "syscall"

// sysProcAttr runs a PostgreSQL program as owner (nil: as ourselves).
func sysProcAttr(owner *Account, server bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if owner != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(owner.UID), Gid: uint32(owner.GID)}
	}
	return attr
}
