// Package database opens the store a DSN names, for the binary, the
// benchmark and the tests alike: a postgres:// or postgresql:// URL is a
// PostgreSQL database, anything else a SQLite file.
package database

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/postgres"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// Option tunes Open.
type Option func(*options)

type options struct {
	mustExist bool
}

// MustExist makes Open refuse a SQLite database that does not exist yet,
// rather than create an empty one: administration commands must not leave a
// new database behind a mistyped path. The error wraps sqlite.ErrNoDatabase.
func MustExist() Option { return func(o *options) { o.mustExist = true } }

// Open opens the store named by dsn and applies its migrations.
func Open(ctx context.Context, dsn string, opts ...Option) (store.Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case IsPostgres(dsn):
		return postgres.Open(ctx, dsn)
	case keyValue.MatchString(dsn):
		return nil, errors.New("the database looks like a PostgreSQL key=value DSN: give a postgres:// URL instead")
	}
	s, err := sqlite.OpenWith(ctx, dsn, sqlite.Options{MustExist: o.mustExist})
	if errors.Is(err, sqlite.ErrNoDatabase) {
		return nil, fmt.Errorf("no database at %s (create one with polyjobs serve, or give --db the right path): %w", dsn, err)
	}
	return s, err
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Redact returns dsn fit to print, in logs and errors: every password
// masked, in each form pgx accepts (a URL's user information, a password
// query parameter, a password=... key-value pair).
func Redact(dsn string) string {
	if IsPostgres(dsn) {
		return postgres.Redact(dsn)
	}
	return keyValuePassword.ReplaceAllString(dsn, "${1}xxxxx")
}

var (
	// keyValue matches the start of a libpq key=value connection string.
	keyValue = regexp.MustCompile(`^\s*(host|hostaddr|port|dbname|user|password|sslmode|service)\s*=`)
	// keyValuePassword matches a password in one, quoted or not.
	keyValuePassword = regexp.MustCompile(`(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)
)
