//go:build linux

package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Memory is a process's memory, in bytes, from /proc/PID/status.
type Memory struct {
	RSS  int64 // VmRSS: resident now
	Anon int64 // RssAnon: of which anonymous (heaps, stacks)
	File int64 // RssFile: of which file pages (the binary, mmap'd databases)
	HWM  int64 // VmHWM: the peak of VmRSS
}

// Memory reads the process's memory from /proc/PID/status.
func (p *Process) Memory() (Memory, error) {
	if !p.Running() {
		return Memory{}, p.ExitedError()
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return Memory{}, fmt.Errorf("read the RSS of %s: %w", p.Name, err)
	}
	var m Memory
	for _, f := range []struct {
		name string
		v    *int64
	}{{"VmRSS", &m.RSS}, {"RssAnon", &m.Anon}, {"RssFile", &m.File}, {"VmHWM", &m.HWM}} {
		if *f.v, err = StatusKB(b, f.name); err != nil {
			return Memory{}, err
		}
	}
	return m, nil
}

// StatusKB extracts "Field:   12345 kB" from a /proc/PID/status file, in bytes.
func StatusKB(status []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 2 && f[1] == "kB" {
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return kb << 10, nil
			}
		}
		break
	}
	return 0, fmt.Errorf("no %s line in kB in /proc/PID/status", field)
}

// FreePorts returns n distinct TCP ports of 127.0.0.1 that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
		}
		defer l.Close() // held until all are found, so that they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
