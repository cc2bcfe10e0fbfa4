package pgserver

import "syscall"

// sysProcAttr runs a PostgreSQL program as owner (nil: as ourselves) and, for
// the long-running server, has the kernel send it SIGINT (a fast shutdown)
// should our process die without stopping it.
func sysProcAttr(owner *Account, server bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if owner != nil {
		attr.Credential = &syscall.Credential{Uid: uint32(owner.UID), Gid: uint32(owner.GID)}
	}
	if server {
		attr.Pdeathsig = syscall.SIGINT
	}
	return attr
}
