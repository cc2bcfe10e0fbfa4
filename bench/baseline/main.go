// Command baseline is the denominator of the load benchmark (make bench-load):
// GET /api/jobs/:type/:id on bare echo v4, with no middleware, no validator,
// no database and no logging. It checks the bearer key against the one known
// key and the path by hand (type in the enum, id a canonical UUID), looks the
// job up in a map and writes the same body and headers polyjobs writes for a
// 200. It is what this HTTP stack can do at best on this machine; polyjobs is
// measured as a fraction of it.
//
//	baseline --addr 127.0.0.1:8090 --fixture jobs.json
//
// The fixture (see bench/internal/fixture) holds the key and the jobs; the
// harness writes it. SIGINT or SIGTERM stops the server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/polyjobs/polyjobs/bench/internal/fixture"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	path := flag.String("fixture", "", "fixture file: the key and the jobs to serve (required)")
	flag.Parse()
	if err := run(*addr, *path); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

// run serves the fixture at path on addr until SIGINT or SIGTERM.
func run(addr, path string) error {
	if path == "" {
		return errors.New("--fixture is required")
	}
	f, err := fixture.Load(path)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err // "bind: address already in use" says it all
	}
	srv := &http.Server{Handler: newHandler(f), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
