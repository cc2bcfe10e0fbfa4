package pgserver

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func execSQL(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestDSN(t *testing.T) {
	var a, b string
	t.Run("create", func(t *testing.T) {
		a, b = DSN(t), DSN(t)
		if a == b {
			t.Fatalf("two calls returned the same database %s", a)
		}
		ca, cb := connect(t, a), connect(t, b)
		execSQL(t, ca, `CREATE TABLE t (x int)`)
		var n int
		if err := cb.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE tablename = 't'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the second database sees the first's table: %d, %v", n, err)
		}
		// Connections left open do not keep the database from being dropped.
	})
	if t.Failed() || t.Skipped() {
		return
	}
	admin, _ := url.Parse(a)
	admin.Path = "/postgres"
	conn := connect(t, admin.String())
	for _, dsn := range []string{a, b} {
		u, _ := url.Parse(dsn)
		name := strings.TrimPrefix(u.Path, "/")
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil || n != 0 {
			t.Fatalf("database %s still exists after its test: %d, %v", name, n, err)
		}
	}
}

func TestServerStopStart(t *testing.T) {
	srv := StartServer(t)
	dsn := srv.DSN(t)
	execSQL(t, connect(t, dsn), `CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)`)
	port := srv.Port()

	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if srv.Running() {
		t.Fatal("Running after Stop")
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		conn.Close(ctx)
		t.Fatal("connected to a stopped server")
	}

	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !srv.Running() || srv.Port() != port {
		t.Fatalf("after Start: running %v, port %d; want true, %d", srv.Running(), srv.Port(), port)
	}
	var x int
	if err := connect(t, dsn).QueryRow(context.Background(), `SELECT x FROM kept`).Scan(&x); err != nil || x != 42 {
		t.Fatalf("after a restart: %d, %v; want 42", x, err)
	}
	if !strings.Contains(srv.Log(), "database system is ready to accept connections") {
		t.Fatalf("the log does not say the server started:\n%s", srv.Log())
	}
}

// fakeTB records how unavailable ends a test.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func runFake(fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestUnavailable(t *testing.T) {
	loudOnce.Do(func() {}) // keep the fake skip from printing the real notice
	t.Setenv(EnvRequire, "")
	f := runFake(func(tb testing.TB) { unavailable(tb, "no binaries") })
	if f.failed != "" || !strings.Contains(f.skipped, "SKIPPING PostgreSQL tests: no binaries") || !strings.Contains(f.skipped, EnvDSN) {
		t.Fatalf("without %s: skipped %q, failed %q", EnvRequire, f.skipped, f.failed)
	}
	t.Setenv(EnvRequire, "1")
	f = runFake(func(tb testing.TB) { unavailable(tb, "no binaries") })
	if f.skipped != "" || !strings.Contains(f.failed, "no binaries") {
		t.Fatalf("with %s: skipped %q, failed %q", EnvRequire, f.skipped, f.failed)
	}
}
