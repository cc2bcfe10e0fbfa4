//go:build linux

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/polyjobs/polyjobs/bench/internal/harness"
)

// placement is where and how eagerly a process runs.
type placement struct {
	cpus string // taskset CPU list, empty for any CPU
	nice int    // niceness, 0 for the default
}

// wrap prefixes argv with nice and taskset as p says. Both exec the command,
// so the process id is the command's own.
func (p placement) wrap(argv []string) []string {
	if p.cpus != "" {
		argv = append([]string{"taskset", "-c", p.cpus}, argv...)
	}
	if p.nice != 0 {
		argv = append([]string{"nice", "-n", strconv.Itoa(p.nice)}, argv...)
	}
	return argv
}

// startProcess starts argv, placed as place says, with its output in the
// file logPath.
func startProcess(name string, argv, env []string, place placement, logPath string) (*harness.Process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	return harness.Start(harness.Spec{Name: name, Argv: place.wrap(argv), Env: env, Output: logf,
		Tail: func() string { return logTail(logPath, 20) }})
}

// logTail returns the last n lines of the log file path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read the log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
