// Command loadgen is the load benchmark's fallback load generator, used by
// bench/cmd/loadbench when wrk is unavailable: a fixed number of keep-alive
// connections, each sending GET requests one after another for a fixed time,
// rotating over the jobs of a fixture with its bearer key. It prints the same
// one-line JSON summary as loadbench's wrk script, after "LOADBENCH_RESULT ".
//
//	loadgen -url http://127.0.0.1:8080 -fixture jobs.json -c 64 -d 10s
//
// Requests are written by hand and responses read with net/http's parser on
// plain TCP connections: no client pool, no per-request allocation of a
// request object.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

func main() {
	rawURL := flag.String("url", "", "base URL of the server, http://host:port (required)")
	path := flag.String("fixture", "", "fixture file: the key and the jobs to request (required)")
	conns := flag.Int("c", 64, "keep-alive connections")
	d := flag.Duration("d", 10*time.Second, "how long to send requests")
	timeout := flag.Duration("timeout", 2*time.Second, "how long to wait for a response before counting a timeout")
	flag.Parse()
	if err := run(os.Stdout, *rawURL, *path, *conns, *d, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// summary is the JSON line loadbench parses (see its load.go).
type summary struct {
	Requests   int64   `json:"requests"`
	DurationUS int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	Connect    int64   `json:"connect"`
	Read       int64   `json:"read"`
	Write      int64   `json:"write"`
	Status     int64   `json:"status"`
	Timeout    int64   `json:"timeout"`
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
	MaxUS      float64 `json:"max_us"`
}

// run loads the server and prints the summary on out.
func run(out io.Writer, rawURL, path string, conns int, d, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("-url %q: want http://host:port", rawURL)
	}
	if path == "" || conns < 1 || d <= 0 || timeout <= 0 {
		return errors.New("-fixture is required; -c, -d and -timeout must be positive")
	}
	fx, err := fixture.Load(path)
	if err != nil {
		return err
	}
	reqs := make([][]byte, len(fx.Jobs))
	for i, p := range fx.Paths() {
		reqs[i] = fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nX-Polytomic-Version: %s\r\n\r\n",
			p, u.Host, fx.Key, fixture.NewestVersion)
	}
	start := time.Now()
	end := start.Add(d)
	workers := make([]*worker, conns)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{addr: u.Host, reqs: reqs, next: i % len(reqs), timeout: timeout}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(end)
		}()
	}
	wg.Wait()
	s := summary{DurationUS: time.Since(start).Microseconds()}
	var lat []time.Duration
	for _, w := range workers {
		s.Requests += w.requests
		s.Bytes += w.bytes
		s.Connect += w.connect
		s.Read += w.read
		s.Write += w.write
		s.Status += w.status
		s.Timeout += w.timeouts
		lat = append(lat, w.latencies...)
	}
	slices.Sort(lat)
	s.P50US, s.P99US = percentileUS(lat, 50), percentileUS(lat, 99)
	if len(lat) > 0 {
		s.MaxUS = float64(lat[len(lat)-1].Microseconds())
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "LOADBENCH_RESULT %s\n", b)
	return err
}

// percentileUS returns the p-th percentile of sorted, in microseconds.
func percentileUS(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i].Nanoseconds()) / 1e3
}

// worker is one keep-alive connection sending requests one after another.
type worker struct {
	addr    string
	reqs    [][]byte
	next    int
	timeout time.Duration

	conn net.Conn
	br   *bufio.Reader

	requests, bytes                        int64
	connect, read, write, status, timeouts int64
	latencies                              []time.Duration
}

// loop sends requests until end.
func (w *worker) loop(end time.Time) {
	defer w.close()
	for time.Now().Before(end) {
		if w.conn == nil && !w.dial() {
			time.Sleep(10 * time.Millisecond) // a refused connection must not spin
			continue
		}
		w.roundTrip()
	}
}

func (w *worker) dial() bool {
	c, err := net.DialTimeout("tcp", w.addr, w.timeout)
	if err != nil {
		w.connect++
		return false
	}
	w.conn, w.br = c, bufio.NewReaderSize(c, 16<<10)
	return true
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// roundTrip sends the next request and reads its response, dropping the
// connection on any error.
func (w *worker) roundTrip() {
	req := w.reqs[w.next]
	w.next = (w.next + 1) % len(w.reqs)
	t0 := time.Now()
	_ = w.conn.SetDeadline(t0.Add(w.timeout))
	if _, err := w.conn.Write(req); err != nil {
		w.count(err, &w.write)
		return
	}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		w.count(err, &w.read)
		return
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		w.count(err, &w.read)
		return
	}
	w.latencies = append(w.latencies, time.Since(t0))
	w.requests++
	w.bytes += n
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		w.status++
	}
	if resp.Close {
		w.close()
	}
}

// count records err as a timeout or in the counter c, and drops the connection.
func (w *worker) count(err error, c *int64) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		w.timeouts++
	} else {
		*c++
	}
	w.close()
}
