//go:build linux

package harness

import (
	"strings"
	"syscall"
	"testing"
)

func TestStatusKB(t *testing.T) {
	status := []byte("Name:\tpolyjobs\nVmPeak:\t  1234 kB\nVmHWM:\t   30124 kB\nVmRSS:\t   27000 kB\n")
	if v, err := StatusKB(status, "VmRSS"); err != nil || v != 27000<<10 {
		t.Fatalf("VmRSS = %d, %v", v, err)
	}
	if v, err := StatusKB(status, "VmHWM"); err != nil || v != 30124<<10 {
		t.Fatalf("VmHWM = %d, %v", v, err)
	}
	if _, err := StatusKB(status, "VmSwap"); err == nil {
		t.Fatal("a missing field must be an error")
	}
	if _, err := StatusKB([]byte("Name:\tx\n"), "VmHWM"); err == nil {
		t.Fatal("no VmHWM: no error")
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Fatalf("FreePorts(3) = %v", ports)
	}
}

func TestProcess(t *testing.T) {
	var out strings.Builder
	p, err := Start(Spec{Name: "sleep", Argv: []string{"sleep", "30"}, Output: &out, Setpgid: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Memory()
	if err != nil || m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("Memory = %+v, %v", m, err)
	}
	if err := p.Stop(); err != nil || p.Running() {
		t.Fatalf("Stop: %v, running %v", err, p.Running())
	}
	if p.StopSignal != syscall.SIGTERM {
		t.Fatalf("default stop signal %v", p.StopSignal)
	}
	p, err = Start(Spec{Name: "false", Argv: []string{"false"}, Output: &out})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "false exited unexpectedly") {
		t.Fatalf("Stop of an exited process: %v", err)
	}
}

func TestRepoRootAndMachine(t *testing.T) {
	if _, err := RepoRoot(); err != nil {
		t.Fatal(err)
	}
	if text, _ := LoadAverage(); text == "unknown" {
		t.Fatal("no load average")
	}
	if Kernel() == "" || CPUModel() == "" {
		t.Fatal("no kernel or CPU model")
	}
}
