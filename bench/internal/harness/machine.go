//go:build linux

package harness

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// CPUModel returns the model name of the first CPU, or "unknown".
func CPUModel() string { return procField("/proc/cpuinfo", "model name") }

// MemoryMiB returns the machine's memory in MiB, or 0 if unknown.
func MemoryMiB() int64 {
	kb, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64)
	if err != nil {
		return 0
	}
	return kb >> 10
}

// OSName returns the PRETTY_NAME of /etc/os-release, or "unknown".
func OSName() string { return strings.Trim(procField("/etc/os-release", "PRETTY_NAME"), `"`) }

// Kernel returns the kernel release, or "".
func Kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// LoadAverage returns /proc/loadavg's 1, 5 and 15 minute load averages as
// text ("unknown" if unreadable) and the 1-minute one.
func LoadAverage() (string, float64) {
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

// Busy reports whether other work keeps the CPUs busy (a 1-minute load
// average above half the CPUs), with the load averages as text.
func Busy() (loadAvg string, busy bool) {
	text, one := LoadAverage()
	return text, one > 0.5*float64(runtime.NumCPU())
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
