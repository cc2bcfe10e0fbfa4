//go:build linux

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

func TestParseSummary(t *testing.T) {
	out := []byte("Running 10s test @ http://127.0.0.1:1\n" + resultMarker +
		`{"requests":200000,"duration_us":10000000,"bytes":1,"connect":1,"read":2,"write":3,"status":4,"timeout":5,"p50_us":1500.5,"p99_us":4000,"max_us":9000}` + "\n")
	s, err := parseSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	r := s.result()
	if r.RPS != 20000 || r.P50MS != 1.5005 || r.P99MS != 4 || r.Non2xx != 4 || r.SocketErrors != 11 || !r.failed() {
		t.Fatalf("result = %+v", r)
	}
	if _, err := parseSummary([]byte("unable to connect to 127.0.0.1:1 Connection refused\n")); err == nil {
		t.Fatal("parseSummary without a summary: no error")
	}
}

func TestJobMix(t *testing.T) {
	count := map[string]int{}
	seen := map[[2]string]bool{}
	for i := range 100 {
		typ, status := jobMix(i)
		count[status]++
		seen[[2]string{typ, status}] = true
	}
	if count["running"] != 33 || count["done"] != 34 || count["created"] != 33 {
		t.Fatalf("mix of 100 jobs = %v", count)
	}
	if len(seen) != len(fixture.Types)*len(seedStatuses) {
		t.Fatalf("%d (type, status) pairs, want every one of %d", len(seen), len(fixture.Types)*len(seedStatuses))
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

// testResults returns two rounds in which polyjobs-sqlite does 80% and 60%
// of the baseline.
func testResults() *results {
	mk := func(server string, rps, p99 float64, rss int64) measurement {
		return measurement{Server: server, loadResult: loadResult{RPS: rps, P50MS: 1, P99MS: p99, Requests: int64(rps) * 10}, PeakRSSBytes: rss}
	}
	res := &results{
		GeneratedAt: time.Date(2025, 9, 18, 12, 0, 0, 0, time.UTC),
		Command:     "go run ./bench/cmd/loadbench",
		Method:      method{Rounds: 2, DurationS: 10, WarmupS: 2, Connections: 64, Servers: []string{nameBaseline, nameSQLite}, Pinned: true, ServerCPU: "0", LoadCPU: "1"},
		Skipped:     map[string]string{namePostgres: "no PostgreSQL"},
		Rounds: []round{
			{Round: 1, Results: []measurement{mk(nameBaseline, 10000, 2, 10<<20), mk(nameSQLite, 8000, 2, 30<<20)}},
			{Round: 2, Results: []measurement{mk(nameBaseline, 20000, 2, 10<<20), mk(nameSQLite, 12000, 4, 45<<20)}},
		},
	}
	for i := range res.Rounds {
		res.Rounds[i].computeRatios()
	}
	res.finish()
	return res
}

func TestFinish(t *testing.T) {
	res := testResults()
	if !res.OK {
		t.Fatal("a run without errors is not OK")
	}
	sq := res.Summary[1]
	if sq.Server != nameSQLite || sq.RPS != 10000 || sq.RatioRPS != 0.7 || sq.RatioP99 != 1.5 || sq.PeakRSSBytes != 45<<20 {
		t.Fatalf("summary of sqlite = %+v", sq)
	}
	var verdicts []string
	for _, c := range sq.Targets {
		verdicts = append(verdicts, c.Target+"="+c.Verdict())
	}
	// 0.70 and 1.5 are exactly on their limits; 45 MiB is over 40.
	want := "req/s ≥ 0.70 × baseline=PASS p99 ≤ 1.5 × baseline=PASS peak RSS ≤ 40 MiB=FAIL"
	if got := strings.Join(verdicts, " "); got != want {
		t.Fatalf("targets: %s\nwant     %s", got, want)
	}
	if res.TargetsMet {
		t.Fatal("TargetsMet with a failed target")
	}

	res.Rounds[1].Results[1].WarmupNon2xx = 3
	res.Summary = nil
	res.finish()
	if res.OK || res.Summary[1].Non2xx != 3 {
		t.Fatalf("a run with non-2xx answers: OK %v, non-2xx %d", res.OK, res.Summary[1].Non2xx)
	}
}

func TestRenderMarkdown(t *testing.T) {
	var md strings.Builder
	if err := renderMarkdown(&md, testResults()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Do not edit", "make bench-load",
		"| polyjobs-sqlite | 10000 | 0.70 |",
		"| polyjobs-sqlite | peak RSS ≤ 40 MiB | 45.0 MiB | **FAIL** |",
		"| polyjobs-postgres | not measured: no PostgreSQL | | SKIPPED |",
		"| 2 | polyjobs-sqlite | 12000 | 0.60 |",
		"`taskset -c 0`",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, md.String())
		}
	}
}

func TestWrkScript(t *testing.T) {
	id := uuid.New()
	fx := &fixture.Fixture{Key: "pju_abc", Jobs: []fixture.Job{{ID: id, Type: "exportlogs", Status: "running"}}}
	var s strings.Builder
	if err := writeWrkScript(&s, fx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Bearer pju_abc"`, `"/api/jobs/exportlogs/` + id.String() + `"`, `"X-Polytomic-Version"] = "2025-09-18"`, resultMarker} {
		if !strings.Contains(s.String(), want) {
			t.Errorf("script lacks %q:\n%s", want, s.String())
		}
	}
	fx.Key = `pju_"; os.exit() --`
	if err := writeWrkScript(&strings.Builder{}, fx); err == nil {
		t.Fatal("a key with a quote made it into the script")
	}
}

func TestValidateOptions(t *testing.T) {
	good := options{rounds: 3, duration: 10 * time.Second, warmup: 2 * time.Second, connections: 64, jobs: 100, loadgen: "auto"}
	if err := good.validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*options){
		"zero rounds":         func(o *options) { o.rounds = 0 },
		"fractional duration": func(o *options) { o.duration = 1500 * time.Millisecond },
		"negative warm-up":    func(o *options) { o.warmup = -time.Second },
		"no connections":      func(o *options) { o.connections = 0 },
		"unknown generator":   func(o *options) { o.loadgen = "ab" },
	} {
		o := good
		mutate(&o)
		if o.validate() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
