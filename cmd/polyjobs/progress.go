package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/polyjobs/polyjobs/client"
	"github.com/polyjobs/polyjobs/internal/safetext"
)

// progress shows a job's status while `job wait` runs: on a terminal, one
// line redrawn with the elapsed time; otherwise a line per status change. A
// nil *progress shows nothing.
type progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	// width returns the terminal's width in columns, 0 when unknown; the
	// live line is kept shorter, since a line that wraps is redrawn below
	// itself.
	width func() int

	mu      sync.Mutex
	job     *client.Job
	done    chan struct{}
	stopped bool
}

func newProgress(w io.Writer, tty bool) *progress {
	width := func() int { return 0 }
	if f, ok := w.(*os.File); ok {
		width = func() int { return terminalWidth(f) }
	}
	return startProgress(w, tty, width)
}

// startProgress is newProgress with the terminal's width given.
func startProgress(w io.Writer, tty bool, width func() int) *progress {
	p := &progress{w: w, tty: tty, start: time.Now(), done: make(chan struct{}), width: width}
	if tty {
		go p.redraw()
	}
	return p
}

// update is the WithProgress callback: it is called on every status change.
func (p *progress) update(job *client.Job) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.job = job
	if p.tty {
		p.draw()
		return
	}
	fmt.Fprintf(p.w, "%s %s: %s\n", elapsed(p.start), jobName(job), safetext.Escape(string(job.Status)))
}

// above runs fn, which writes a line to the same terminal, with the live
// line cleared, then draws the live line again below what fn wrote.
func (p *progress) above(fn func()) {
	if p == nil || !p.tty {
		fn()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		fmt.Fprint(p.w, clearLine)
	}
	fn()
	p.draw()
}

// clearLine moves to the start of the line and clears it.
const clearLine = "\r\033[K"

func (p *progress) redraw() {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

// draw rewrites the status line; p.mu is held.
func (p *progress) draw() {
	if p.stopped {
		return
	}
	status := "waiting"
	var names []string // the job's name, long then short
	if p.job != nil {
		status = safetext.Escape(string(p.job.Status))
		names = []string{jobName(p.job) + " ", safetext.Escape(string(p.job.Type)) + " "}
	}
	if status == "" {
		status = "?"
	}
	rest := strings.ToUpper(status[:1]) + status[1:] + "  " + elapsed(p.start)
	line := rest
	if len(names) > 0 {
		line = names[0] + rest
	}
	if width := p.width(); width > 0 {
		for i := 1; i < len(names) && utf8.RuneCountInString(line) >= width; i++ {
			line = names[i] + rest
		}
		if r := []rune(line); len(r) >= width {
			line = string(r[:width-1])
		}
	}
	fmt.Fprint(p.w, clearLine+line)
}

// stop ends the live line; it may be called more than once.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	close(p.done)
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// jobName is type/id, escaped.
func jobName(job *client.Job) string {
	return safetext.Escape(string(job.Type)) + "/" + job.ID.String()
}

func elapsed(start time.Time) string {
	return time.Since(start).Truncate(time.Second).String()
}
