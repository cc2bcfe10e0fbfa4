//go:build linux

package main

import (
	"bytes"
	"strings"
	"sync"
)

// Bounds of a logTail.
const (
	tailLines   = 20      // last lines kept
	tailLineMax = 4 << 10 // longest line kept, in bytes
	noticesMax  = 5       // first warnings and errors kept
)

// logTail receives a process's output, which may be a line per request for
// minutes, in bounded memory: it counts the lines and those logged at level
// WARN or ERROR, and keeps the first warnings and errors and the last few
// lines other than access-log lines (startup, shutdown, a panic's stack). It
// is safe for concurrent use.
type logTail struct {
	mu       sync.Mutex
	partial  []byte   // an unfinished line
	ring     [][]byte // the last lines, oldest at next once full
	next     int
	lines    int64
	warns    int64
	errors   int64
	notices  []string // the first WARN and ERROR lines
	overflow bool     // partial was cut at tailLineMax
}

// Write consumes output; it never fails.
func (t *logTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.keepPartial(p)
			break
		}
		line := p[:i]
		if len(t.partial) > 0 || t.overflow {
			t.keepPartial(line)
			line = t.partial
		}
		t.addLine(line)
		t.partial, t.overflow = t.partial[:0], false
		p = p[i+1:]
	}
	return n, nil
}

// keepPartial appends to the unfinished line, up to tailLineMax.
func (t *logTail) keepPartial(p []byte) {
	room := tailLineMax - len(t.partial)
	if len(p) > room {
		p, t.overflow = p[:max(room, 0)], true
	}
	t.partial = append(t.partial, p...)
}

// addLine counts a complete line and keeps it in the ring.
func (t *logTail) addLine(line []byte) {
	t.lines++
	line = line[:min(len(line), tailLineMax)]
	level := ""
	switch {
	case bytes.Contains(line, []byte(`"level":"ERROR"`)) || bytes.Contains(line, []byte("level=ERROR")):
		t.errors++
		level = "ERROR"
	case bytes.Contains(line, []byte(`"level":"WARN"`)) || bytes.Contains(line, []byte("level=WARN")):
		t.warns++
		level = "WARN"
	}
	if level != "" && len(t.notices) < noticesMax {
		t.notices = append(t.notices, string(line))
	}
	if level == "" && bytes.Contains(line, []byte(`"msg":"request"`)) {
		return // an access-log line: counted, not kept
	}
	if len(t.ring) < tailLines {
		t.ring = append(t.ring, append([]byte(nil), line...))
		return
	}
	t.ring[t.next] = append(t.ring[t.next][:0], line...)
	t.next = (t.next + 1) % tailLines
}

// tail returns the last lines kept, indented, for an error message.
func (t *logTail) tail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for i := range t.ring {
		b.WriteString("    ")
		b.Write(t.ring[(t.next+i)%len(t.ring)])
		b.WriteByte('\n')
	}
	if len(t.partial) > 0 {
		b.WriteString("    ")
		b.Write(t.partial)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

// counts returns the number of lines, warnings and errors, and the first
// warnings and errors.
func (t *logTail) counts() (lines, warns, errors int64, notices []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lines, t.warns, t.errors, append([]string(nil), t.notices...)
}
