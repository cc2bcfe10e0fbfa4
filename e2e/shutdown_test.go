package e2e_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestSIGTERMUnderLoad stops a replica on SQLite with SIGTERM while eight
// keep-alive clients poll it as fast as they can: the process exits 0 within
// its grace period, every response it sent is a 200, and the only client
// errors are the refused or closed connections of after the shutdown began.
func TestSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "shutdown.db")
	admin(t, dsn, "init")
	tn := newTenant(t, dsn, "acme")
	job := admin(t, dsn, "job", "create", "--org", "acme", "--type", "exportlogs")
	admin(t, dsn, "job", "start", job)
	r := startReplica(t, "shutdown", dsn, "--shutdown-grace", "5s", "--rate", "-1")

	var (
		ok, other  atomic.Int64
		mu         sync.Mutex
		unexpected []error
		stopping   atomic.Bool
		wg         sync.WaitGroup
		done       = make(chan struct{})
		url        = fmt.Sprintf("%s/api/jobs/exportlogs/%s", r.URL(), job)
	)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{}}
			for {
				select {
				case <-done:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				tn.bearer().apply(req)
				resp, err := client.Do(req)
				if err != nil {
					if !stopping.Load() || !shutdownError(err) {
						mu.Lock()
						unexpected = append(unexpected, err)
						mu.Unlock()
					}
					if stopping.Load() {
						time.Sleep(10 * time.Millisecond)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					other.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	before := ok.Load()
	stopping.Store(true)
	start := time.Now()
	r.stop(t) // SIGTERM, then requires exit code 0 and the "stopped" log line
	took := time.Since(start)
	close(done)
	wg.Wait()

	if before == 0 {
		t.Fatal("no request succeeded before the shutdown: the load never ran")
	}
	if other.Load() != 0 {
		t.Fatalf("%d responses were not 200", other.Load())
	}
	if len(unexpected) > 0 {
		t.Fatalf("%d requests failed unexpectedly, first: %v", len(unexpected), unexpected[0])
	}
	if took > 5*time.Second+2*time.Second {
		t.Fatalf("the replica took %v to stop; its grace period is 5s", took)
	}
	t.Logf("%d requests answered 200 (%d before SIGTERM); stopped in %v", ok.Load(), before, took)
}

// shutdownError reports whether err is what a client sees from a server that
// has stopped accepting: a refused connection, or a kept-alive one closed.
func shutdownError(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// TestShutdownCutsWhatOutlastsTheGrace: a client that trickles its body
// holds a request past --shutdown-grace; after the grace its connection is
// closed, and the process still exits 0, with a warning naming how many
// connections it cut.
func TestShutdownCutsWhatOutlastsTheGrace(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "cut.db")
	r := startReplica(t, "cut", dsn, "--shutdown-grace", "1s")
	holdARequest(t, r) // longer than the grace
	start := time.Now()
	r.stop(t) // SIGTERM; fails unless the exit code is 0
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("the process took %v to exit with a grace of 1 s", took)
	}
	warnings := strings.Join(r.logLines("WARN"), "\n")
	if !strings.Contains(warnings, "shutdown grace over") || !strings.Contains(warnings, `"connections":1`) {
		t.Fatalf("no warning naming the connection cut; warnings:\n%s", warnings)
	}
}

// holdARequest sends r the headers of a request, then one byte of a body of
// a thousand: the server waits for the rest, up to its read timeout (10 s),
// with the connection open until the test ends.
func holdARequest(t *testing.T, r *replica) {
	t.Helper()
	conn, err := net.Dial("tcp", r.API)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /api/jobs/exportlogs/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx", uuid.NewString())
	time.Sleep(200 * time.Millisecond)
}

// TestSecondSignalStopsAtOnce: while a graceful shutdown waits for a
// request that outlasts it, a second SIGTERM (an operator's second Ctrl-C)
// stops the process at once, rather than at the end of the grace.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	t.Parallel()
	dsn := filepath.Join(t.TempDir(), "second.db")
	r := startReplica(t, "second", dsn, "--shutdown-grace", "60s")
	holdARequest(t, r) // 10 s, shorter than the grace
	p, err := os.FindProcess(r.Pid())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(r.log.String(), "shutting down") {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no shutdown began after SIGTERM:\n%s", r.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Exited():
	case <-time.After(5 * time.Second):
		t.Fatalf("the second SIGTERM did not stop the process, which waits for a request (10 s) within its grace (60 s); output:\n%s", r.log)
	}
}
