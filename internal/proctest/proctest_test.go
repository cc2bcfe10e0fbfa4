package proctest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestStatusKB(t *testing.T) {
	status := []byte("Name:\tpolyjobs\nVmHWM:\t   30124 kB\nVmRSS:\t   27000 kB\nVmSwap:\t12\n")
	for _, tc := range []struct {
		field string
		want  int64 // -1: an error
	}{{"VmRSS", 27000 << 10}, {"VmHWM", 30124 << 10}, {"VmSwap", -1}, {"RssAnon", -1}} {
		t.Run(tc.field, func(t *testing.T) {
			got, err := statusKB(status, tc.field)
			if (err != nil) != (tc.want < 0) || (err == nil && got != tc.want) {
				t.Fatalf("statusKB = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	var tb tailBuffer
	for i := range 5000 {
		fmt.Fprintf(&tb, "line %d\n", i)
	}
	s := tb.String()
	if !strings.HasSuffix(s, "    line 4999") || strings.Contains(s, "line 0\n") || len(s) > tailSize*2 {
		t.Fatalf("tail of %d bytes ends %q", len(s), s[max(0, len(s)-40):])
	}
	if !strings.HasPrefix(s, "    line ") {
		t.Fatalf("the tail starts with a partial line: %q", s[:20])
	}
}

func TestProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses /proc")
	}
	p, err := Start(Spec{Name: "sleep", Argv: []string{"sleep", "30"}})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := p.Memory(); err != nil || m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("Memory = %+v, %v", m, err)
	}
	// sleep does not trap SIGTERM: killed by it, it does not exit 0.
	if err := p.Stop(5 * time.Second); err == nil || p.Running() {
		t.Fatalf("Stop: %v, running %v", err, p.Running())
	}
	p, err = Start(Spec{Name: "echo", Argv: []string{"sh", "-c", "echo hello; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitReady(context.Background(), time.Minute, func(context.Context) error { return fmt.Errorf("never") })
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "hello") {
		t.Fatalf("WaitReady of an exiting process: %v", err)
	}
	if err := p.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "exited before it was stopped") {
		t.Fatalf("Stop of an exited process: %v", err)
	}
}

func TestAdmin(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("runs a shell script")
	}
	// A script stands in for polyjobs.
	for _, tc := range []struct {
		script string
		want   AdminResult
	}{
		{`echo "$*"`, AdminResult{Stdout: "admin --db x.db job show 1\n"}},
		{`echo oops >&2; exit 1`, AdminResult{Code: 1, Stderr: "oops\n"}},
	} {
		t.Run(tc.script, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "polyjobs")
			if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if got := Admin(context.Background(), bin, "x.db", "job", "show", "1"); got != tc.want {
				t.Fatalf("Admin = %+v, want %+v", got, tc.want)
			}
		})
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
