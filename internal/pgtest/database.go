package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// dbTimeout bounds creating or dropping a test database.
const dbTimeout = 30 * time.Second

// createDatabase creates a database with a unique name on the server of
// adminDSN, a postgres:// URL of a role allowed to create databases, and
// returns its URL. The database is dropped when t ends, if alive (nil: the
// server is someone else's and must be running) says the server is up; a
// failed drop fails t only on someone else's server, where it would leak.
func createDatabase(t testing.TB, adminDSN string, alive func() bool) string {
	t.Helper()
	u, err := url.Parse(adminDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s must be a postgres:// URL", EnvDSN)
	}
	var b [8]byte
	rand.Read(b[:])
	name := "pgtest_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{name}.Sanitize()

	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	// template0 can never have connections, which would make CREATE DATABASE
	// fail; it is as empty as a database gets.
	if err := adminExec(ctx, adminDSN, `CREATE DATABASE `+ident+` TEMPLATE template0`); err != nil {
		t.Fatalf("pgtest: create database on %s: %v", u.Redacted(), err)
	}
	t.Cleanup(func() {
		if alive != nil && !alive() {
			return // the whole server goes away
		}
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		if err := dropDatabase(ctx, adminDSN, name); err != nil {
			if alive == nil {
				t.Errorf("pgtest: drop database %s on %s: %v", name, u.Redacted(), err)
			} else {
				t.Logf("pgtest: drop database %s: %v", name, err)
			}
		}
	})
	db := *u
	db.Path = "/" + name
	db.RawPath = ""
	return db.String()
}

// dropDatabase drops a test database, disconnecting whoever is still on it.
func dropDatabase(ctx context.Context, adminDSN, name string) error {
	ident := pgx.Identifier{name}.Sanitize()
	err := adminExec(ctx, adminDSN, `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42601" { // syntax_error
		return err
	}
	// Before PostgreSQL 13, no FORCE: disconnect the sessions first.
	if err := adminExec(ctx, adminDSN, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '`+name+`'`); err != nil {
		return err
	}
	return adminExec(ctx, adminDSN, `DROP DATABASE IF EXISTS `+ident)
}

// adminExec runs one statement on a connection of its own.
func adminExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	if err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}
