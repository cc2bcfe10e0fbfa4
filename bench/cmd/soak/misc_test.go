//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

func TestLogTail(t *testing.T) {
	var lt logTail
	lt.Write([]byte(`{"level":"INFO","msg":"listening"}` + "\n" + `{"level":"WA`))
	lt.Write([]byte(`RN","msg":"slow"}` + "\n"))
	for i := range tailLines + 5 {
		fmt.Fprintf(&lt, `{"level":"INFO","msg":"tick","n":%d}`+"\n", i)
	}
	fmt.Fprintf(&lt, `{"level":"INFO","msg":"request","status":200}`+"\n")
	lt.Write([]byte("level=ERROR msg=boom\n" + strings.Repeat("x", 2*tailLineMax) + "\nunfinished"))
	lines, warns, errs, notices := lt.counts()
	if lines != tailLines+5+5 || warns != 1 || errs != 1 || len(notices) != 2 {
		t.Fatalf("lines %d, warns %d, errors %d, notices %q", lines, warns, errs, notices)
	}
	if notices[0] != `{"level":"WARN","msg":"slow"}` {
		t.Errorf("a warning split across writes: %q", notices[0])
	}
	if strings.Contains(lt.tail(), `"msg":"request"`) {
		t.Error("access-log lines must not be kept")
	}
	tail := strings.Split(lt.tail(), "\n")
	if len(tail) != tailLines+1 || !strings.HasSuffix(tail[len(tail)-1], "unfinished") ||
		len(strings.TrimSpace(tail[len(tail)-2])) != tailLineMax || !strings.Contains(tail[len(tail)-3], "boom") {
		t.Fatalf("tail of %d lines:\n%s", len(tail), lt.tail())
	}
}

func TestMetricValue(t *testing.T) {
	exp := []byte("# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 17\n" +
		"go_goroutines_total{x=\"y\"} 3\ngo_memstats_heap_inuse_bytes 6.111232e+06\n")
	if v, err := metricValue(exp, "go_goroutines"); err != nil || v != 17 {
		t.Fatalf("go_goroutines = %d, %v", v, err)
	}
	if v, err := metricValue(exp, "go_memstats_heap_inuse_bytes"); err != nil || v != 6111232 {
		t.Fatalf("heap = %d, %v", v, err)
	}
	if _, err := metricValue(exp, "nope"); err == nil {
		t.Fatal("a missing metric must be an error")
	}
}

func TestSeedAndWriter(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "soak.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	org, err := st.CreateOrganization(ctx, orgName)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := seedJobs(ctx, st, org.ID, 24)
	if err != nil {
		t.Fatal(err)
	}
	p := newPool(jobs)
	if m := p.mix(); m["created"] != 6 || m["running"] != 6 || m["done"] != 6 || m["failed"] != 6 {
		t.Fatalf("seeded mix %v, want 6 of each", m)
	}
	w := newWriter(st, org.ID, p)
	for range 30 {
		w.step(ctx)
	}
	if n := w.errs.total(); n != 0 {
		_, s := w.errs.snapshot()
		t.Fatalf("writer errors: %v", s)
	}
	// 30 jobs created; a job moves on once lifecycleDepth younger ones share its status.
	if w.creates != 30 || len(w.every) != 54 || len(w.created) != lifecycleDepth {
		t.Fatalf("creates %d, jobs %d, created queue %d", w.creates, len(w.every), len(w.created))
	}
	// The pool keeps its size: one job withdrawn, the one that ended first, per job created.
	if len(p.all()) != 24 || w.retired != 30 || slices.Contains(p.all(), jobs[2]) {
		t.Fatalf("pool %d, %d withdrawn; want 24 and 30, the seeded done job first", len(p.all()), w.retired)
	}
	if w.starts != 6+30-lifecycleDepth || len(w.running) != lifecycleDepth || w.finishes+w.fails != 6+w.starts-lifecycleDepth {
		t.Fatalf("starts %d, running queue %d, ends %d", w.starts, len(w.running), w.finishes+w.fails)
	}
	if w.fails == 0 || w.finishes == 0 {
		t.Fatalf("%d done, %d failed: want both", w.finishes, w.fails)
	}
	for _, j := range w.every {
		sj, err := st.JobByID(ctx, j.id)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(sj.Status), j.status(j.committed.Load()); got != want || j.begun.Load() != j.committed.Load() {
			t.Fatalf("job %s: stored %s, published %s", j.id, got, want)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*writerTick)
	defer cancel()
	start := time.Now()
	w.run(ctx)
	if time.Since(start) > 5*time.Second || w.ticks < 31 {
		t.Fatalf("run: %d ticks in %v", w.ticks, time.Since(start))
	}
}

func TestJudge(t *testing.T) {
	flat := report{TargetRPS: 100, AchievedRPS: 99, RSSStartBytes: 100 << 20, RSSEndBytes: 109 << 20}
	flat.judge()
	if flat.Verdict != verdictPass || len(flat.Reasons) != 0 || len(flat.Warnings) != 0 {
		t.Fatalf("flat: %s %v %v", flat.Verdict, flat.Reasons, flat.Warnings)
	}
	for name, r := range map[string]report{
		"growing":   {RSSStartBytes: 100 << 20, RSSEndBytes: 111 << 20},
		"shrinking": {RSSStartBytes: 100 << 20, RSSEndBytes: 89 << 20},
		"errors":    {RSSStartBytes: 1, RSSEndBytes: 1, Errors: 1, ErrorKinds: map[string]int64{"HTTP 429": 1}},
		"writer":    {RSSStartBytes: 1, RSSEndBytes: 1, Writer: writerSummary{Errors: 1}},
		"reason":    {RSSStartBytes: 1, RSSEndBytes: 1, Reasons: []string{"final check"}},
	} {
		r.judge()
		if r.Verdict != verdictFail || len(r.Reasons) != 1 {
			t.Errorf("%s: %s %v", name, r.Verdict, r.Reasons)
		}
	}
	slow := report{TargetRPS: 100, AchievedRPS: 90, LagP90MS: 500, RSSStartBytes: 1, RSSEndBytes: 1}
	slow.judge()
	if slow.Verdict != verdictPass || len(slow.Warnings) != 2 {
		t.Errorf("a rate shortfall and a lagging load are warnings: %s %v", slow.Verdict, slow.Warnings)
	}
}

func TestRender(t *testing.T) {
	r := &report{Verdict: verdictFail, Reasons: []string{"3 requests failed"}, DB: "sqlite", TargetRPS: 720, AchievedRPS: 719,
		Warmups:  []warmup{{TargetRPS: 800, AchievedRPS: 700, LagP90MS: 900}, {TargetRPS: 720, AchievedRPS: 720, KeptUp: true}},
		Capacity: &capacity{RPS: 1000, Connections: 64}, Requests: 48000, Errors: 3, ErrorKinds: map[string]int64{"timeout": 3},
		Settings: settings{DurationS: 60, WarmupS: 30, CapacityS: 10, Connections: 64, LoadFraction: 0.8, SeededJobs: 200,
			WriterTickMS: 200, TimeoutS: 5, ValidateEvery: 10, RSSEveryS: 30, RSSTolerance: 0.1, ServerEnv: polyjobsEnv},
		Minutes: []minuteRow{{Minute: 1, Seconds: 60, Requests: 48000, RPS: 800, Errors: 3}},
		RSS:     []memSample{{Label: "start", RSSBytes: 27 << 20}, {Label: "end", RSSBytes: 28 << 20}}}
	var md, text strings.Builder
	renderMarkdown(&md, r)
	printReport(&text, r)
	for _, want := range []string{"**FAIL**", "3 requests failed", "| 1 | 48000 | 800 | 3 |", "72 % of 1000 req/s", "lowered from 80 %", "800 req/s: FELL BEHIND", "720 req/s: kept up", "POLYJOBS_RATE=1000000", "10s at 64"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("soak.md lacks %q:\n%s", want, md.String())
		}
	}
	for _, want := range []string{"3 !! (timeout 3)", "FAIL:", "  - 3 requests failed", "warm-up"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the summary lacks %q:\n%s", want, text.String())
		}
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.duration != 5*time.Minute || o.db != "sqlite" || o.load != 0.8 || o.connections != 64 {
		t.Fatalf("defaults %+v, %v", o, err)
	}
	for _, args := range [][]string{{"-db", "mysql"}, {"-duration", "0s"}, {"-warmup", "1s"}, {"-load", "1.5"}, {"-jobs", "0"}, {"extra"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
}
