//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

// resultMarker starts the line on which a load generator prints its summary
// as JSON (the wrk script's done() and bench/cmd/loadgen both print it).
const resultMarker = "LOADBENCH_RESULT "

// loadSummary is what a load generator prints after resultMarker.
type loadSummary struct {
	Requests   int64   `json:"requests"`
	DurationUS int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	Connect    int64   `json:"connect"`
	Read       int64   `json:"read"`
	Write      int64   `json:"write"`
	Status     int64   `json:"status"` // responses with a status of 400 or more
	Timeout    int64   `json:"timeout"`
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
	MaxUS      float64 `json:"max_us"`
}

// loadResult is one run of a load generator against one server.
type loadResult struct {
	Requests int64   `json:"requests"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
	// Non2xx counts responses with an error status; SocketErrors connect,
	// read and write errors and timeouts, which Sockets breaks down.
	Non2xx       int64        `json:"non_2xx"`
	SocketErrors int64        `json:"socket_errors"`
	Sockets      socketErrors `json:"socket_error_kinds"`
}

// socketErrors breaks socket errors down as wrk does.
type socketErrors struct {
	Connect int64 `json:"connect"`
	Read    int64 `json:"read"`
	Write   int64 `json:"write"`
	Timeout int64 `json:"timeout"`
}

// add sums two breakdowns.
func (e socketErrors) add(o socketErrors) socketErrors {
	return socketErrors{e.Connect + o.Connect, e.Read + o.Read, e.Write + o.Write, e.Timeout + o.Timeout}
}

// String is "connect 0, read 64, write 0, timeout 0".
func (e socketErrors) String() string {
	return fmt.Sprintf("connect %d, read %d, write %d, timeout %d", e.Connect, e.Read, e.Write, e.Timeout)
}

// failed reports a run with any error: its numbers are not a result.
func (r loadResult) failed() bool { return r.Non2xx > 0 || r.SocketErrors > 0 }

// result converts the generator's summary.
func (s loadSummary) result() loadResult {
	r := loadResult{
		Requests: s.Requests, Seconds: float64(s.DurationUS) / 1e6,
		P50MS: s.P50US / 1e3, P99MS: s.P99US / 1e3, MaxMS: s.MaxUS / 1e3,
		Non2xx: s.Status, SocketErrors: s.Connect + s.Read + s.Write + s.Timeout,
		Sockets: socketErrors{Connect: s.Connect, Read: s.Read, Write: s.Write, Timeout: s.Timeout},
	}
	if r.Seconds > 0 {
		r.RPS = float64(r.Requests) / r.Seconds
	}
	return r
}

// parseSummary finds the resultMarker line in a load generator's output.
func parseSummary(out []byte) (loadSummary, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), resultMarker); ok {
			var s loadSummary
			if err := json.Unmarshal([]byte(rest), &s); err != nil {
				return s, fmt.Errorf("malformed summary %q: %w", rest, err)
			}
			return s, nil
		}
	}
	return loadSummary{}, fmt.Errorf("no %q line in its output", strings.TrimSpace(resultMarker))
}

// loader is a load generator.
type loader interface {
	// describe names the generator and its settings, for the report.
	describe() string
	// prepare writes what run needs to load fx's jobs into dir and returns its path.
	prepare(dir, name string, fx *fixture.Fixture) (string, error)
	// run loads baseURL for d with the prepared file spec.
	run(ctx context.Context, spec, baseURL string, d time.Duration) (loadResult, error)
}

// lastLines returns the last n lines of out, indented, for error messages.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
