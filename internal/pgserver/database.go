package pgserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotURL is CreateDatabase's error for an admin DSN that is not a
// postgres:// URL.
var ErrNotURL = errors.New("not a postgres:// URL")

// UniqueName returns prefix followed by 16 random hexadecimal digits, a
// database name no one else uses.
func UniqueName(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// CreateDatabase creates the empty database name on the server of adminDSN,
// a postgres:// URL of a role allowed to create databases, and returns the
// database's URL: adminDSN with its path replaced.
func CreateDatabase(ctx context.Context, adminDSN, name string) (string, error) {
	u, err := url.Parse(adminDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", ErrNotURL
	}
	// template0 can never have connections, which would make CREATE DATABASE
	// fail; it is as empty as a database gets.
	if err := Exec(ctx, adminDSN, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+` TEMPLATE template0`); err != nil {
		return "", fmt.Errorf("create database on %s: %w", u.Redacted(), err)
	}
	db := *u
	db.Path = "/" + name
	db.RawPath = ""
	return db.String(), nil
}

// DropDatabase drops a database, disconnecting whoever is still on it.
func DropDatabase(ctx context.Context, adminDSN, name string) error {
	ident := pgx.Identifier{name}.Sanitize()
	err := Exec(ctx, adminDSN, `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42601" { // syntax_error
		return err
	}
	// Before PostgreSQL 13, no FORCE: disconnect the sessions first.
	if err := Exec(ctx, adminDSN, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '`+name+`'`); err != nil {
		return err
	}
	return Exec(ctx, adminDSN, `DROP DATABASE IF EXISTS `+ident)
}

// Exec runs one statement on a connection of its own; its error names the
// statement.
func Exec(ctx context.Context, dsn, sql string) error {
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

// ServerVersion returns "PostgreSQL N.M" of the server at dsn, or "".
func ServerVersion(ctx context.Context, dsn string) string {
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
