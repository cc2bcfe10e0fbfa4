package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/client"
	"github.com/polyjobs/polyjobs/internal/syncbuf"
)

// TestProgressOnATerminal checks the live line `job wait` draws on a
// terminal: redrawn in place with the status and elapsed time, redrawn by the
// clock between changes, ended by a newline, and silent once stopped.
func TestProgressOnATerminal(t *testing.T) {
	out := &syncbuf.Buffer{}
	p := newProgress(out, true)
	id := uuid.New()
	waitOutput(t, out, "Waiting", 1) // a clock redraw before any status
	p.update(&client.Job{ID: id, Type: client.JobTypeExportLogs, Status: client.JobStatusRunning})
	waitOutput(t, out, "Running", 2) // the change, then a clock redraw
	p.update(&client.Job{ID: id, Type: client.JobTypeExportLogs, Status: client.JobStatusDone})
	p.stop()
	p.stop() // idempotent
	got := out.String()

	lines := strings.Split(got, "\r\033[K")
	if lines[0] != "" {
		t.Fatalf("output does not start by clearing the line: %q", got)
	}
	var waiting, running, done int
	name := regexp.QuoteMeta("exportlogs/" + id.String())
	for _, l := range lines[1:] {
		switch {
		case regexp.MustCompile(`^Waiting  \d+s$`).MatchString(l):
			waiting++
		case regexp.MustCompile(`^` + name + ` Running  \d+s$`).MatchString(l):
			running++
		case regexp.MustCompile(`^` + name + ` Done  \d+s\n$`).MatchString(l):
			done++
		default:
			t.Errorf("unexpected live line %q", l)
		}
	}
	if waiting < 1 || running < 2 || done != 1 {
		t.Errorf("drew %d waiting, %d running and %d done lines; want >=1, >=2 (change and clock) and 1:\n%q", waiting, running, done, got)
	}
	if !strings.HasSuffix(got, "\n") || strings.Count(got, "\n") != 1 {
		t.Errorf("the live line must end with exactly one newline: %q", got)
	}
	time.Sleep(300 * time.Millisecond)
	if out.String() != got {
		t.Errorf("drew after stop: %q", strings.TrimPrefix(out.String(), got))
	}
}

// TestProgressFitsTheTerminal: a live line longer than the terminal would
// wrap, and each redraw, which clears only the last row, would then leave a
// copy behind: the line drops the job's id, then is cut, to stay shorter
// than the terminal.
func TestProgressFitsTheTerminal(t *testing.T) {
	id := uuid.New()
	for _, tc := range []struct {
		width int
		want  string // the last line drawn, without its elapsed time's digits
	}{
		{0, "exportlogs/" + id.String() + " Running  "},
		{200, "exportlogs/" + id.String() + " Running  "},
		{40, "exportlogs Running  "},
		{12, "exportlogs "},
	} {
		out := &syncbuf.Buffer{}
		p := startProgress(out, true, func() int { return tc.width })
		p.update(&client.Job{ID: id, Type: client.JobTypeExportLogs, Status: client.JobStatusRunning})
		p.mu.Lock()
		p.stopped = true // no redraw by the clock from here on
		p.mu.Unlock()
		lines := strings.Split(out.String(), clearLine)
		last := lines[len(lines)-1]
		if tc.width > 0 && len(last) >= tc.width {
			t.Errorf("width %d: line %q is not shorter than the terminal", tc.width, last)
		}
		if got := strings.TrimRight(last, "0123456789s"); got != tc.want && last != tc.want {
			t.Errorf("width %d: line %q; want %q and the elapsed time", tc.width, last, tc.want)
		}
	}
}

// TestProgressAbove: a line written above the live line on the same terminal
// starts on a cleared line, and the live line comes back below it.
func TestProgressAbove(t *testing.T) {
	out := &syncbuf.Buffer{}
	p := startProgress(out, true, func() int { return 0 })
	id := uuid.New()
	p.update(&client.Job{ID: id, Type: client.JobTypeExportLogs, Status: client.JobStatusRunning})
	p.above(func() { out.Write([]byte(`{"status":"running"}` + "\n")) })
	p.stop()
	want := regexp.MustCompile(`\r\x1b\[K\{"status":"running"\}\n\r\x1b\[Kexportlogs/` + id.String() + ` Running  \d+s`)
	if !want.MatchString(out.String()) {
		t.Fatalf("got %q; want the JSON line on a cleared line, then the live line again", out.String())
	}
	var plain bytes.Buffer
	off := newProgress(&plain, false)
	off.above(func() { plain.WriteString("x\n") })
	if plain.String() != "x\n" {
		t.Fatalf("off a terminal, above wrote %q", plain.String())
	}
}

// TestProgressOffATerminal: without a terminal, one plain line per change.
func TestProgressOffATerminal(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, false)
	id := uuid.New()
	p.update(&client.Job{ID: id, Type: client.JobTypeSampleModel, Status: client.JobStatusCreated})
	p.update(&client.Job{ID: id, Type: client.JobTypeSampleModel, Status: client.JobStatusFailed})
	p.stop()
	name := regexp.QuoteMeta("samplemodel/" + id.String())
	want := regexp.MustCompile(`^\d+s ` + name + `: created\n\d+s ` + name + `: failed\n$`)
	if !want.MatchString(out.String()) {
		t.Fatalf("got %q, want lines matching %s", out.String(), want)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for name, out := range map[string]io.Writer{"buffer": &bytes.Buffer{}, "file": f, "pipe": w} {
		if isTerminal(out) {
			t.Errorf("%s is taken for a terminal", name)
		}
	}
}

// waitOutput waits until out holds n occurrences of s.
func waitOutput(t *testing.T, out *syncbuf.Buffer, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %d × %q in %q", n, s, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
