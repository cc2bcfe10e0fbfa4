//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package main

import "os"

// terminalWidth returns 0 (unknown) where it cannot be read.
func terminalWidth(*os.File) int { return 0 }
