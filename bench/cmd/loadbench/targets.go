//go:build linux

package main

import "fmt"

// target is a goal a server should meet. Targets are reported (PASS or FAIL),
// never asserted by tests; -strict makes a miss fail the run.
type target struct {
	server string
	name   string
	value  func(summaryRow) float64
	atMost bool // the value must be <= limit; else >= limit
	limit  float64
	unit   string // how the value prints: "×" for a ratio to the baseline, or a unit
}

// targets are the goals of polyjobs relative to the baseline.
var targets = []target{
	{server: nameSQLite, name: "req/s ≥ 0.70 × baseline", value: func(r summaryRow) float64 { return r.RatioRPS }, limit: 0.70, unit: "×"},
	{server: nameSQLite, name: "p99 ≤ 1.5 × baseline", value: func(r summaryRow) float64 { return r.RatioP99 }, atMost: true, limit: 1.5, unit: "×"},
	{server: nameSQLite, name: "peak RSS ≤ 40 MiB", value: func(r summaryRow) float64 { return mib(r.PeakRSSBytes) }, atMost: true, limit: 40, unit: "MiB"},
	{server: namePostgres, name: "req/s ≥ 0.35 × baseline", value: func(r summaryRow) float64 { return r.RatioRPS }, limit: 0.35, unit: "×"},
}

// targetCheck is a target's outcome.
type targetCheck struct {
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Pass   bool    `json:"pass"`
}

// ValueString prints the value of the check, as "0.82×" or "21.4 MiB".
func (c targetCheck) ValueString() string {
	if c.Unit == "×" {
		return fmt.Sprintf("%.2f×", c.Value)
	}
	return fmt.Sprintf("%.1f %s", c.Value, c.Unit)
}

// Verdict is PASS or FAIL.
func (c targetCheck) Verdict() string {
	if c.Pass {
		return "PASS"
	}
	return "FAIL"
}

// checkTargets evaluates the targets of row's server.
func checkTargets(row summaryRow) []targetCheck {
	var checks []targetCheck
	for _, t := range targets {
		if t.server != row.Server {
			continue
		}
		v := t.value(row)
		pass := v >= t.limit
		if t.atMost {
			pass = v <= t.limit
		}
		checks = append(checks, targetCheck{Target: t.name, Value: v, Unit: t.unit, Pass: pass})
	}
	return checks
}
