//go:build unix

package main

import "syscall"

// openFileLimit is the process's limit on open files (which Go raises to
// the hard limit at start), the ceiling of the connections it can hold.
func openFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	return lim.Cur
}
