package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

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

	mu      sync.Mutex
	job     *client.Job
	done    chan struct{}
	stopped bool
}

func newProgress(w io.Writer, tty bool) *progress {
	p := &progress{w: w, tty: tty, start: time.Now(), done: make(chan struct{})}
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
	name := ""
	if p.job != nil {
		status, name = safetext.Escape(string(p.job.Status)), jobName(p.job)+" "
	}
	if status == "" {
		status = "?"
	}
	fmt.Fprintf(p.w, "\r\033[K%s%s  %s", name, strings.ToUpper(status[:1])+status[1:], elapsed(p.start))
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
