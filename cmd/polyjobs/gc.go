package main

import (
	"os"
	"runtime/debug"
)

// The soft memory limit (GOMEMLIMIT) of `serve` when the GOMEMLIMIT
// environment variable is not set: memoryLimitBase, plus memoryPerWaiter for
// each request it may hold (--max-waiters). A held request keeps about
// 11 KiB live (park.go), so with many held the live heap grows past 100 MiB,
// and Go's default GOGC of 100 would let the heap double that before
// collecting. Near the limit the collector runs more often instead; far
// below it, as usual, GOGC decides. The limit leaves at least half again of
// the held requests' own memory, so that it never keeps the collector
// running.
//
// GOGC itself stays Go's default: under `make bench-load`, 200 served no more
// requests per second than 100 (medians of paired rounds within 1 %) and
// raised the peak RSS by 4 MiB, to 38.5 MiB.
const (
	memoryLimitBase = 64 << 20
	memoryPerWaiter = 16 << 10
)

// tuneGC applies the soft memory limit for maxWaiters held requests, unless
// GOMEMLIMIT is set: it always wins.
func tuneGC(maxWaiters int) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimitBase + int64(maxWaiters)*memoryPerWaiter)
	}
}
