package proctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"time"
)

// ReadyTimeout bounds how long a `polyjobs serve` may take to answer /readyz.
const ReadyTimeout = 30 * time.Second

// ServeSpec says how to start `polyjobs serve`.
type ServeSpec struct {
	Name   string   // for messages
	Binary string   // the polyjobs binary
	DB     string   // --db
	Flags  []string // more flags, after --addr, --admin-addr and --db
	// Env is added to Env(), the environment without POLYJOBS_* variables.
	Env []string
	// Wrap, if set, rewrites the command line, for instance to run it under
	// taskset or nice. The wrapper must exec the command.
	Wrap   func(argv []string) []string
	Output io.Writer // stdout and stderr, as Spec.Output
}

// Server is a running `polyjobs serve`.
type Server struct {
	*Process
	API   string // host:port of the API listener, 127.0.0.1
	Admin string // host:port of the admin listener (/healthz, /readyz, /metrics)
}

// URL returns the API's base URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return "http://" + s.API }

// AdminURL returns the admin listener's base URL.
func (s *Server) AdminURL() string { return "http://" + s.Admin }

// errPortTaken means a port picked as free was taken before the server bound it.
var errPortTaken = errors.New("address already in use")

// Serve starts `polyjobs serve` on two free 127.0.0.1 ports and waits until
// its /readyz answers 200, trying other ports when the ones it picked were
// taken meanwhile. On error, the returned server, if not nil, has exited and
// holds the output of the last attempt.
func Serve(ctx context.Context, spec ServeSpec) (*Server, error) {
	var s *Server
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		s, err = serveOnce(ctx, spec)
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return s, err
}

func serveOnce(ctx context.Context, spec ServeSpec) (*Server, error) {
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	s := &Server{API: ports[0], Admin: ports[1]}
	argv := append([]string{spec.Binary, "serve", "--addr", s.API, "--admin-addr", s.Admin, "--db", spec.DB}, spec.Flags...)
	if spec.Wrap != nil {
		argv = spec.Wrap(argv)
	}
	if s.Process, err = Start(Spec{Name: spec.Name, Argv: argv, Env: append(Env(), spec.Env...), Output: spec.Output}); err != nil {
		return nil, err
	}
	if err = s.WaitReady(ctx, ReadyTimeout, ReadyProbe(s.AdminURL())); err != nil {
		s.Kill()
		if strings.Contains(s.Tail(), "address already in use") {
			return s, fmt.Errorf("%s: %w", spec.Name, errPortTaken)
		}
		return s, err
	}
	return s, nil
}

// ReadyProbe returns a probe for Process.WaitReady that succeeds when
// adminURL/readyz, the readiness endpoint of a `polyjobs serve` admin
// listener (http://127.0.0.1:PORT), answers 200. Each request is bounded by
// a second.
func ReadyProbe(adminURL string) func(context.Context) error {
	client := &http.Client{Timeout: time.Second}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}
}

// FreePorts returns n distinct host:port addresses of 127.0.0.1 that were
// free a moment ago.
func FreePorts(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
		}
		defer l.Close() // held until all are found, so that they differ
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// AdminResult is what a `polyjobs admin` command did.
type AdminResult struct {
	Code           int // the exit code; -1 when it could not run or was killed
	Stdout, Stderr string
}

// Admin runs `polyjobs admin --db db args...` in Env() and reports its exit
// code and output.
func Admin(ctx context.Context, bin, db string, args ...string) AdminResult {
	cmd := exec.CommandContext(ctx, bin, append([]string{"admin", "--db", db}, args...)...)
	cmd.Env = Env()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := AdminResult{Stdout: out.String(), Stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		res.Code = -1
		res.Stderr += err.Error()
	}
	return res
}
