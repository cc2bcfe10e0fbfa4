//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
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
	m := machineInfo{NProc: runtime.NumCPU(), Go: runtime.Version(), CPUModel: procField("/proc/cpuinfo", "model name")}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.LoadAvgStart, _ = loadAverage()
	return m
}

// loadAverage returns the three load averages as text and the 1-minute one.
func loadAverage() (string, float64) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown", 0
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown", 0
	}
	one, _ := strconv.ParseFloat(f[0], 64)
	return strings.Join(f[:3], " "), one
}

// warnIfBusy says loudly when other work keeps the CPUs busy, and returns
// the warning ("" when the machine is not busy).
func warnIfBusy(log io.Writer) string {
	text, one := loadAverage()
	if one <= 0.5*float64(runtime.NumCPU()) {
		return ""
	}
	msg := fmt.Sprintf("the machine is busy (load average %s on %d CPUs): other work competes with the soak; capacity and latency are noisy", text, runtime.NumCPU())
	fmt.Fprintf(log, "*** %s ***\n", msg)
	return msg
}

// procField returns the value of the first "key: value" line of path, or "unknown".
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
