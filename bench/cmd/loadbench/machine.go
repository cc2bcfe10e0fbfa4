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
	m := machineInfo{NProc: runtime.NumCPU(), Go: runtime.Version(), Postgres: postgres}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64); err == nil {
		m.MemoryMiB = kb >> 10
	}
	m.OS = strings.Trim(procField("/etc/os-release", "PRETTY_NAME"), `"`)
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.LoadAvg, _ = loadAverage()
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

// warnIfBusy says loudly when other work keeps the CPUs busy before the run.
func warnIfBusy(log io.Writer) {
	text, one := loadAverage()
	if one > 0.5*float64(runtime.NumCPU()) {
		fmt.Fprintf(log, "*** the machine is busy (load average %s on %d CPUs): other processes compete with the benchmark, expect noisy numbers ***\n",
			text, runtime.NumCPU())
	}
}

// procField returns the value of the first "key: value" (or key=value) line
// of path, or "unknown".
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			k, v, ok = strings.Cut(line, "=")
		}
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
