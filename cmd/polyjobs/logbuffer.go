package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logBuffer batches log writes: lines go into a 64 KiB buffer that is written
// out every flushEvery, when it fills, and on Close. Under load the access log
// then costs one write system call per batch instead of one per request. At
// most flushEvery of log lines is lost if the process is killed.
type logBuffer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	done chan struct{}
	wg   sync.WaitGroup
}

// flushEvery is how long a log line may wait in the buffer.
const flushEvery = 100 * time.Millisecond

func newLogBuffer(w io.Writer) *logBuffer {
	b := &logBuffer{w: bufio.NewWriterSize(w, 64<<10), done: make(chan struct{})}
	b.wg.Add(1)
	go b.flushLoop()
	return b
}

// Write buffers p.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *logBuffer) flushLoop() {
	defer b.wg.Done()
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			b.mu.Lock()
			_ = b.w.Flush()
			b.mu.Unlock()
		}
	}
}

// Close stops the flusher and writes out what is buffered.
func (b *logBuffer) Close() error {
	close(b.done)
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}
