//go:build linux

package main

import (
	"slices"
	"time"
)

// results is everything a run produced; it is written as
// bench/results/latest.json and rendered into BENCHMARKS.md.
type results struct {
	GeneratedAt time.Time   `json:"generated_at"`
	Command     string      `json:"command"`
	Machine     machineInfo `json:"machine"`
	Method      method      `json:"method"`
	// Skipped names the servers not measured, with the reason.
	Skipped map[string]string `json:"skipped,omitempty"`
	Rounds  []round           `json:"rounds"`
	Summary []summaryRow      `json:"summary"`
	// OK is false when any response was not 2xx or any socket error occurred.
	OK bool `json:"ok"`
	// TargetsMet is true when every target passed.
	TargetsMet bool `json:"targets_met"`
}

// method is how the run measured.
type method struct {
	Rounds        int      `json:"rounds"`
	DurationS     float64  `json:"duration_s"`
	WarmupS       float64  `json:"warmup_s"`
	Connections   int      `json:"connections"`
	Jobs          int      `json:"jobs"`
	Mix           string   `json:"mix"`
	LoadGenerator string   `json:"load_generator"`
	Servers       []string `json:"servers"`
	Pinned        bool     `json:"pinned"`
	ServerCPU     string   `json:"server_cpu,omitempty"`
	LoadCPU       string   `json:"load_cpu,omitempty"`
	// ServeFlags are the extra flags given to `polyjobs serve` (-serve-flags).
	ServeFlags string `json:"serve_flags,omitempty"`
	// Nice is the niceness of the servers and the load generator (-nice).
	Nice int `json:"nice,omitempty"`
	// PolyjobsEnv is the environment given to `polyjobs serve`.
	PolyjobsEnv []string `json:"polyjobs_env"`
}

// round is one pass over every server.
type round struct {
	Round   int           `json:"round"`
	Results []measurement `json:"results"`
}

// measurement is one server's measured run in one round.
type measurement struct {
	Server string `json:"server"`
	loadResult
	PeakRSSBytes       int64        `json:"peak_rss_bytes"`
	WarmupNon2xx       int64        `json:"warmup_non_2xx"`
	WarmupSocketErrors int64        `json:"warmup_socket_errors"`
	WarmupSockets      socketErrors `json:"warmup_socket_error_kinds"`
	// RatioRPS and RatioP99 are relative to the baseline of the same round.
	RatioRPS float64 `json:"ratio_rps"`
	RatioP99 float64 `json:"ratio_p99"`
	// ErrorSample is the answer to one request made after a run with
	// errors, to say what they were (a 401, a 429, ...).
	ErrorSample string `json:"error_sample,omitempty"`
}

// non2xx and socketErrors count the warm-up's errors with the measured run's.
func (m measurement) non2xx() int64       { return m.Non2xx + m.WarmupNon2xx }
func (m measurement) socketErrors() int64 { return m.SocketErrors + m.WarmupSocketErrors }
func (m measurement) failed() bool        { return m.non2xx() > 0 || m.socketErrors() > 0 }

// computeRatios relates every result of the round to the round's baseline.
func (r *round) computeRatios() {
	var base *measurement
	for i := range r.Results {
		if r.Results[i].Server == nameBaseline {
			base = &r.Results[i]
		}
	}
	if base == nil {
		return
	}
	for i := range r.Results {
		m := &r.Results[i]
		m.RatioRPS = ratio(m.RPS, base.RPS)
		m.RatioP99 = ratio(m.P99MS, base.P99MS)
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// summaryRow is one server over all rounds: medians of the rounds, the
// highest peak RSS, all errors.
type summaryRow struct {
	Server       string  `json:"server"`
	RPS          float64 `json:"median_rps"`
	P50MS        float64 `json:"median_p50_ms"`
	P99MS        float64 `json:"median_p99_ms"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	// RatioRPS and RatioP99 are the medians of the per-round ratios.
	RatioRPS     float64       `json:"ratio_rps"`
	RatioP99     float64       `json:"ratio_p99"`
	Non2xx       int64         `json:"non_2xx"`
	SocketErrors int64         `json:"socket_errors"`
	Targets      []targetCheck `json:"targets,omitempty"`
}

// finish computes the summary, the targets and whether the run is valid.
func (res *results) finish() {
	res.OK, res.TargetsMet = true, true
	for _, name := range res.Method.Servers {
		var rps, p50, p99, rr, pr []float64
		row := summaryRow{Server: name}
		for _, rd := range res.Rounds {
			for _, m := range rd.Results {
				if m.Server != name {
					continue
				}
				rps, p50, p99 = append(rps, m.RPS), append(p50, m.P50MS), append(p99, m.P99MS)
				rr, pr = append(rr, m.RatioRPS), append(pr, m.RatioP99)
				row.PeakRSSBytes = max(row.PeakRSSBytes, m.PeakRSSBytes)
				row.Non2xx += m.non2xx()
				row.SocketErrors += m.socketErrors()
			}
		}
		row.RPS, row.P50MS, row.P99MS = median(rps), median(p50), median(p99)
		row.RatioRPS, row.RatioP99 = median(rr), median(pr)
		row.Targets = checkTargets(row)
		for _, t := range row.Targets {
			res.TargetsMet = res.TargetsMet && t.Pass
		}
		res.OK = res.OK && row.Non2xx == 0 && row.SocketErrors == 0
		res.Summary = append(res.Summary, row)
	}
}

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// mib converts bytes to MiB.
func mib(b int64) float64 { return float64(b) / (1 << 20) }
