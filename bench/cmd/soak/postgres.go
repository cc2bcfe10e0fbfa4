//go:build linux

package main

// A throwaway PostgreSQL, as bench/cmd/loadbench starts one (this is its
// code, without CPU placement; loadbench keeps its own copy).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// envPostgres names a postgres:// URL of a server on which the soak may
// create (and then drop) a database, instead of starting one of its own. It
// is the variable bench/cmd/loadbench reads.
const envPostgres = "POLYJOBS_BENCH_POSTGRES"

// pgBinaries is where Debian and Ubuntu install PostgreSQL's server binaries.
const pgBinaries = "/usr/lib/postgresql/*/bin"

// pgDatabase is the database of -db postgres, and how to get rid of it: drop
// it, then stop the throwaway server if the soak started one.
type pgDatabase struct {
	dsn     string // the database's URL
	admin   string // the server's admin URL
	name    string
	server  *process // nil when the server is someone else's
	version string
	dir     string // the throwaway server's directory, removed by close
}

// openPostgres returns a fresh database: on the server of envPostgres when it
// is set, else on a throwaway server started from the system binaries.
func openPostgres(ctx context.Context) (*pgDatabase, error) {
	db := &pgDatabase{admin: os.Getenv(envPostgres)}
	if db.admin == "" {
		if err := db.startServer(ctx); err != nil {
			_ = db.close()
			return nil, err
		}
	}
	if err := db.create(ctx); err != nil {
		_ = db.close()
		return nil, err
	}
	return db, nil
}

// startServer initializes a data directory and starts PostgreSQL on a free
// port of 127.0.0.1 with trust authentication and fsync off. As root, which
// initdb refuses to be, it runs as the "postgres" system user.
func (db *pgDatabase) startServer(ctx context.Context) error {
	bin, err := findPgBinaries()
	if err != nil {
		return err
	}
	owner, err := pgAccount()
	if err != nil {
		return err
	}
	// A directory of its own: the postgres user must be able to reach it.
	if db.dir, err = os.MkdirTemp("", "soak-postgres-"); err != nil {
		return err
	}
	data := filepath.Join(db.dir, "data")
	if owner != nil {
		if err := os.Chown(db.dir, int(owner.Uid), int(owner.Gid)); err != nil {
			return fmt.Errorf("give %s to user postgres: %w", db.dir, err)
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "--pgdata", data, "--username", "postgres",
		"--auth", "trust", "--encoding", "UTF8", "--no-locale", "--no-sync")
	initdb.Dir, initdb.Env = db.dir, pgEnv()
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: owner}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", data, err, out)
	}
	if out, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output(); err == nil {
		db.version = strings.TrimSpace(string(out))
	}
	// A free port may be taken between the probe and the server's bind: try a few.
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		err = db.startPostmaster(ctx, bin, data, ports[0], owner)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			return err
		}
	}
}

// startPostmaster starts postgres on port and waits until it accepts connections.
func (db *pgDatabase) startPostmaster(ctx context.Context, bin, data string, port int, owner *syscall.Credential) error {
	argv := []string{filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", db.dir,
		"-c", "listen_addresses=127.0.0.1", "-F", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB", "-c", "logging_collector=off"}
	// SIGINT is PostgreSQL's fast shutdown: it disconnects clients.
	p, err := startProcess("postgres", argv, pgEnv(), owner, syscall.SIGINT)
	if err != nil {
		return err
	}
	db.admin = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := waitPostgres(ctx, db.admin, p); err != nil {
		_ = p.stop()
		return fmt.Errorf("PostgreSQL on 127.0.0.1:%d did not start: %w; the end of its output:\n%s", port, err, p.out.tail())
	}
	db.server = p
	return nil
}

// waitPostgres waits until the server at dsn accepts connections, or p exits.
func waitPostgres(ctx context.Context, dsn string, p *process) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgconn.Connect(cctx, dsn)
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not accepting connections: %w", err)
		}
		select {
		case <-p.exited:
			return errors.New("the server exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// create creates a database with a unique name on the admin server.
func (db *pgDatabase) create(ctx context.Context) error {
	u, err := url.Parse(db.admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("%s must be a postgres:// URL", envPostgres)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	db.name = "soak_" + hex.EncodeToString(b[:])
	if err := pgExec(ctx, db.admin, `CREATE DATABASE `+pgx.Identifier{db.name}.Sanitize()+` TEMPLATE template0`); err != nil {
		return fmt.Errorf("create a database on %s: %w", u.Redacted(), err)
	}
	if db.version == "" {
		db.version = pgServerVersion(ctx, db.admin)
	}
	u.Path, u.RawPath = "/"+db.name, ""
	db.dsn = u.String()
	return nil
}

// close drops the database, stops the throwaway server and removes its
// directory, as far as they exist.
func (db *pgDatabase) close() error {
	var err error
	if db.name != "" && db.admin != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = pgExec(ctx, db.admin, `DROP DATABASE IF EXISTS `+pgx.Identifier{db.name}.Sanitize()+` WITH (FORCE)`)
	}
	if db.server != nil {
		if serr := db.server.stop(); serr != nil && err == nil {
			err = serr
		}
	}
	if db.dir != "" {
		os.RemoveAll(db.dir)
	}
	return err
}

// pgExec runs one statement on a connection of its own.
func pgExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// pgServerVersion returns "PostgreSQL N.M" of the server at dsn, or "".
func pgServerVersion(ctx context.Context, dsn string) string {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return ""
	}
	defer conn.Close(context.Background())
	var v string
	if conn.QueryRow(ctx, `SHOW server_version`).Scan(&v) != nil {
		return ""
	}
	return "PostgreSQL " + v
}

// findPgBinaries returns the directory of the newest initdb and postgres
// under pgBinaries, else of initdb on PATH.
func findPgBinaries() (string, error) {
	dirs, _ := filepath.Glob(pgBinaries)
	major := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	if initdb, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(initdb))
	}
	for _, dir := range dirs {
		if isFile(filepath.Join(dir, "initdb")) && isFile(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("-db postgres: no PostgreSQL server binaries (initdb and postgres) under %s or on PATH, and %s is not set",
		pgBinaries, envPostgres)
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// pgAccount returns the credentials to run PostgreSQL with: nil (ours) unless
// we are root, then the "postgres" system user's.
func pgAccount() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New(`-db postgres: running as root, which initdb refuses, and there is no "postgres" user`)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// pgEnv is the environment of initdb and postgres: ours without the PG*
// variables that could redirect them, in the C locale.
func pgEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C")
}
