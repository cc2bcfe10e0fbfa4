//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
)

// Files the harness (re)writes, relative to the repository root.
const (
	resultsFile  = "bench/results/latest.json"
	markdownFile = "BENCHMARKS.md"
)

// tableHeader is the header of the per-round and summary tables.
var tableHeader = []string{"server", "req/s", "× base", "p50", "p99", "p99 × base", "peak RSS", "non-2xx", "socket errors"}

// printRow prints a table row: the server name left-aligned, numbers right-aligned.
func printRow(w io.Writer, cells ...string) {
	widths := []int{18, 8, 7, 10, 10, 11, 10, 10, 14}
	fmt.Fprintf(w, "%-*s", widths[0], cells[0])
	for i, c := range cells[1:] {
		fmt.Fprintf(w, " %*s", widths[i+1], c)
	}
	fmt.Fprintln(w)
}

// printRound prints one round's table.
func printRound(w io.Writer, rd round) {
	fmt.Fprintf(w, "\nRound %d\n", rd.Round)
	printRow(w, tableHeader...)
	for _, m := range rd.Results {
		printRow(w, m.Server, fmt.Sprintf("%.0f", m.RPS), fmt.Sprintf("%.2f", m.RatioRPS), ms(m.P50MS), ms(m.P99MS),
			fmt.Sprintf("%.2f", m.RatioP99), mibString(m.PeakRSSBytes), flagged(m.non2xx()), flagged(m.socketErrors()))
	}
	for _, m := range rd.Results {
		if m.ErrorSample != "" {
			fmt.Fprintf(w, "  !! %s, a request after the run: %s\n", m.Server, m.ErrorSample)
		}
	}
}

// printSummary prints the summary table, the targets and the verdict.
func printSummary(w io.Writer, res *results) {
	fmt.Fprintf(w, "\nSummary: %d round(s) of %gs (after %gs of warm-up), %d connections; medians over the rounds,\n"+
		"ratios are medians of the per-round ratios to the baseline, peak RSS the highest VmHWM.\n",
		res.Method.Rounds, res.Method.DurationS, res.Method.WarmupS, res.Method.Connections)
	printRow(w, tableHeader...)
	for _, r := range res.Summary {
		printRow(w, r.Server, fmt.Sprintf("%.0f", r.RPS), fmt.Sprintf("%.2f", r.RatioRPS), ms(r.P50MS), ms(r.P99MS),
			fmt.Sprintf("%.2f", r.RatioP99), mibString(r.PeakRSSBytes), flagged(r.Non2xx), flagged(r.SocketErrors))
	}
	fmt.Fprintln(w, "\nTargets")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range res.Summary {
		for _, c := range r.Targets {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Server, c.Target, c.ValueString(), c.Verdict())
		}
	}
	for _, name := range sortedKeys(res.Skipped) {
		fmt.Fprintf(tw, "  %s\tSKIPPED\t%s\t\n", name, res.Skipped[name])
	}
	tw.Flush()
	if !res.OK {
		fmt.Fprintln(w, "\n*** INVALID RUN: some responses were not 2xx or had socket errors; the numbers above are not results. ***")
	}
}

// ms formats milliseconds.
func ms(v float64) string { return fmt.Sprintf("%.2f ms", v) }

// mibString formats bytes as MiB.
func mibString(b int64) string { return fmt.Sprintf("%.1f MiB", mib(b)) }

// flagged formats an error count, loudly when it is not zero.
func flagged(n int64) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d !!", n)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// writeJSON writes res as indented JSON.
func writeJSON(w io.Writer, res *results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(res)
}

// writeResults writes bench/results/latest.json and BENCHMARKS.md under root.
func writeResults(root string, res *results) error {
	var js strings.Builder
	if err := writeJSON(&js, res); err != nil {
		return err
	}
	path := filepath.Join(root, resultsFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(js.String()), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	if err := renderMarkdown(&md, res); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, markdownFile), []byte(md.String()), 0o644)
}
