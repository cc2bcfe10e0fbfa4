//go:build race

package e2e_test

// The server processes are built with the race detector when the tests are.
func init() { raceEnabled = true }
