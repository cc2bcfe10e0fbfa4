//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// memSampler samples the server's memory during the soak, under load: at the
// start of the measured time (after the warm-up), every rssEvery, and at the
// end. It prints a progress line with each sample.
type memSampler struct {
	srv  *server
	tl   *timeline
	errs *tally
	log  io.Writer

	samples     []memSample
	peak        int64 // VmHWM at the last sample
	metricsFail bool  // /metrics failed once (said once)
}

// run samples until the end sample (shortly before the load stops, see
// endLead) or until ctx is done; the first sample waits startDelay for the
// connections to settle; it returns an error only when the server's
// memory cannot be read.
func (m *memSampler) run(ctx context.Context, loadDone <-chan struct{}) error {
	start := m.tl.measuredStart()
	endAt := m.tl.end.Add(-min(endLead, m.tl.measured()/2))
	if !waitUntil(ctx, loadDone, start.Add(min(startDelay, m.tl.measured()/4))) {
		return nil // stopped early: the caller knows why
	}
	if err := m.take(ctx, "start", start); err != nil {
		return err
	}
	for at := start.Add(rssEvery); at.Before(endAt); at = at.Add(rssEvery) {
		if !waitUntil(ctx, loadDone, at) {
			break
		}
		if err := m.take(ctx, at.Sub(start).Round(time.Second).String(), start); err != nil {
			return err
		}
	}
	waitUntil(ctx, loadDone, endAt)
	if ctx.Err() != nil {
		return nil
	}
	return m.take(ctx, "end", start)
}

// take records one sample and prints the progress so far.
func (m *memSampler) take(ctx context.Context, label string, start time.Time) error {
	mem, err := m.srv.Memory()
	if err != nil {
		return err
	}
	s := memSample{Label: label, AtS: time.Since(start).Round(time.Millisecond).Seconds(),
		RSSBytes: mem.RSS, AnonBytes: mem.Anon, FileBytes: mem.File}
	g, err := m.srv.runtimeMetrics(ctx)
	if err != nil && !m.metricsFail {
		m.metricsFail = true
		fmt.Fprintf(m.log, "  (cannot read the server's /metrics: %v)\n", err)
	}
	s.Goroutines, s.HeapInuseBytes, s.GoHeldBytes = g.goroutines, g.heapInuse, g.held
	m.samples, m.peak = append(m.samples, s), mem.HWM
	fmt.Fprintf(m.log, "  [%s] VmRSS %s (anon %s, file %s), Go holds %s (heap in use %s), %d goroutines; %d requests, %d errors\n",
		label, mibString(mem.RSS), mibString(mem.Anon), mibString(mem.File), mibString(g.held), mibString(g.heapInuse), g.goroutines,
		m.tl.attempts(), m.errs.total())
	return nil
}

// waitUntil waits until t; it returns false when done or ctx ends first.
func waitUntil(ctx context.Context, done <-chan struct{}, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-done:
		return false
	case <-ctx.Done():
		return false
	}
}
