//go:build linux

package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/polyjobs/polyjobs/bench/internal/harness"
)

// machineInfo describes where the soak ran.
type machineInfo struct {
	NProc    int    `json:"nproc"`
	CPUModel string `json:"cpu_model"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Postgres string `json:"postgres,omitempty"`
	// LoadAvgStart and LoadAvgEnd are /proc/loadavg's 1, 5 and 15 minute load
	// averages when the soak started and ended: other work on the machine
	// makes latency and capacity noisy.
	LoadAvgStart string `json:"load_average_start"`
	LoadAvgEnd   string `json:"load_average_end"`
}

// machine describes this machine, with the load average now as the start's.
func machine() machineInfo {
	m := machineInfo{NProc: runtime.NumCPU(), Go: runtime.Version(), CPUModel: harness.CPUModel(), Kernel: harness.Kernel()}
	m.LoadAvgStart, _ = harness.LoadAverage()
	return m
}

// warnIfBusy says loudly when other work keeps the CPUs busy, and returns
// the warning ("" when the machine is not busy).
func warnIfBusy(log io.Writer) string {
	text, busy := harness.Busy()
	if !busy {
		return ""
	}
	msg := fmt.Sprintf("the machine is busy (load average %s on %d CPUs): other work competes with the soak; capacity and latency are noisy", text, runtime.NumCPU())
	fmt.Fprintf(log, "*** %s ***\n", msg)
	return msg
}
