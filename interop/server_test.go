package interop_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/syncbuf"
	"github.com/polyjobs/polyjobs/server"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// startServer runs the real reference server for the test, as
// `polyjobs serve --control` does: a fresh SQLite database, the control API
// on (requiring token when it is not empty), the plans' steps taken as they
// fall due, and server.HTTPServer on a free 127.0.0.1 port. It returns the
// base URL; the server's log is shown if the test fails.
func startServer(t *testing.T, token string) string {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "polyjobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	h, err := server.New(server.Config{Store: st, Logger: logger, Control: &control.Options{Token: token}})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	ctx, stopPlans := context.WithCancel(context.Background())
	plansDone := make(chan struct{})
	go func() {
		defer close(plansDone)
		h.Control().Run(ctx)
	}()
	srv := server.HTTPServer(ln.Addr().String(), h, logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			t.Errorf("shut the server down: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		stopPlans()
		<-plansDone
		st.Close()
		if t.Failed() {
			t.Logf("--- server log:\n%s", logs)
		}
	})
	return "http://" + ln.Addr().String()
}
