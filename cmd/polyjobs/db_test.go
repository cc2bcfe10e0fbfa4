package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/polyjobs/polyjobs/internal/pgserver"
	"github.com/polyjobs/polyjobs/internal/syncbuf"
	"github.com/polyjobs/polyjobs/server/store/postgres"
)

func TestMain(m *testing.M) { pgserver.Main(m) }

// TestServeWaitsVisiblyForTheMigrationLock holds PostgreSQL's migration lock
// as another replica would: serve must say, again and again, that it waits,
// then stop cleanly on SIGTERM (a cancelled context) without serving.
func TestServeWaitsVisiblyForTheMigrationLock(t *testing.T) {
	dsn := pgserver.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	if _, err := other.Exec(ctx, `SELECT pg_advisory_lock($1)`, postgres.MigrationLockKey); err != nil {
		t.Fatal(err)
	}

	defer func(d time.Duration) { openNoticeEvery = d }(openNoticeEvery)
	openNoticeEvery = 50 * time.Millisecond
	o := &serveOptions{
		addr: "127.0.0.1:0", adminAddr: "", db: dsn, devInterval: time.Second,
		pollHint: time.Second, retention: time.Hour, purgeInterval: time.Hour,
		shutdownGrace: time.Second, logFormat: "json", logLevel: "info",
	}
	serveCtx, stop := context.WithCancel(ctx)
	logs := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- serve(serveCtx, o, logs, logs) }()
	for i := 0; i < 400 && strings.Count(logs.String(), "still opening the database") < 2; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "still opening the database"); n < 2 {
		t.Fatalf("%d notices after 4s of waiting for the lock; want at least 2. Logs:\n%s", n, logs)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after SIGTERM while waiting; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s of SIGTERM while waiting for the lock")
	}
	if !strings.Contains(logs.String(), "stopped before serving") {
		t.Fatalf("no 'stopped before serving' line:\n%s", logs)
	}
	if strings.Contains(logs.String(), `"listening"`) || strings.Contains(logs.String(), "serving on") {
		t.Fatalf("serve started serving while another process held the migration lock:\n%s", logs)
	}
}

// TestServeWaitsForPostgresToStart starts serve before its PostgreSQL server,
// as an orchestrator may: serve says it waits, its admin listener answers
// /healthz (and /readyz: starting) meanwhile, then it serves once the
// database is up.
func TestServeWaitsForPostgresToStart(t *testing.T) {
	srv := pgserver.StartServer(t)
	dsn := srv.DSN(t)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	defer func(notice, retry time.Duration) { openNoticeEvery, openRetryEvery = notice, retry }(openNoticeEvery, openRetryEvery)
	openNoticeEvery, openRetryEvery = 50*time.Millisecond, 20*time.Millisecond
	o := &serveOptions{
		addr: "127.0.0.1:0", adminAddr: "127.0.0.1:0", db: dsn, devInterval: time.Second,
		pollHint: time.Second, retention: time.Hour, purgeInterval: time.Hour,
		shutdownGrace: time.Second, logFormat: "json", logLevel: "info",
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	logs := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, logs, logs) }()
	waitLog := func(what string, n int) {
		t.Helper()
		for i := 0; i < 1000 && strings.Count(logs.String(), what) < n; i++ {
			select {
			case err := <-done:
				t.Fatalf("serve returned %v before %q was logged:\n%s", err, what, logs)
			case <-time.After(10 * time.Millisecond):
			}
		}
		if strings.Count(logs.String(), what) < n {
			t.Fatalf("no %q in the log after 10 s:\n%s", what, logs)
		}
	}
	waitLog("still opening the database", 2)
	if !strings.Contains(logs.String(), "connect") {
		t.Fatalf("the notices do not say why:\n%s", logs)
	}
	admin := logURL(logs.String(), "admin listening")
	probe := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(admin + path)
		if err != nil {
			t.Fatalf("%s while the database is away: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := probe("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while waiting for the database: %d %s; want 200", code, body)
	}
	if code, body := probe("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Fatalf("/readyz while waiting for the database: %d %s; want 503, starting", code, body)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitLog(`"msg":"listening"`, 1)
	if code, body := probe("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz once serving: %d %s; want 200", code, body)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
