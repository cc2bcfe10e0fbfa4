//go:build linux

package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/polyjobs/polyjobs/bench/internal/harness"
)

// machineInfo describes where the benchmark ran.
type machineInfo struct {
	NProc     int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	MemoryMiB int64  `json:"memory_mib"`
	OS        string `json:"os"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	Postgres  string `json:"postgres,omitempty"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute load averages when the
	// run started: other work on the machine makes the numbers noisy.
	LoadAvg string `json:"load_average"`
}

// machine reads the machine's description from /proc and /etc/os-release.
func machine(postgres string) machineInfo {
	m := machineInfo{NProc: runtime.NumCPU(), Go: runtime.Version(), Postgres: postgres,
		CPUModel: harness.CPUModel(), MemoryMiB: harness.MemoryMiB(), OS: harness.OSName(), Kernel: harness.Kernel()}
	m.LoadAvg, _ = harness.LoadAverage()
	return m
}

// warnIfBusy says loudly when other work keeps the CPUs busy before the run.
func warnIfBusy(log io.Writer) {
	if text, busy := harness.Busy(); busy {
		fmt.Fprintf(log, "*** the machine is busy (load average %s on %d CPUs): other processes compete with the benchmark, expect noisy numbers ***\n",
			text, runtime.NumCPU())
	}
}
