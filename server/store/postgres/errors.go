package postgres

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATE codes the store maps to store errors.
const (
	// codeUniqueViolation: a duplicate organization name or key hash (ErrConflict).
	codeUniqueViolation = "23505"
	// codeForeignKeyViolation: an unknown organization (ErrNotFound).
	codeForeignKeyViolation = "23503"
	// codeCharacterNotInRepertoire: text that is not valid UTF-8 or holds a
	// NUL byte, which PostgreSQL cannot store (ErrInvalid). SQLite stores
	// such bytes; PostgreSQL refuses them.
	codeCharacterNotInRepertoire = "22021"
	// codeUntranslatableCharacter: a character the database encoding lacks (ErrInvalid).
	codeUntranslatableCharacter = "22P05"
)

// hasCode reports whether err is a PostgreSQL error with the given SQLSTATE.
func hasCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// isBadText reports whether err is PostgreSQL refusing the bytes of a text
// value: invalid UTF-8, a NUL byte or a character the encoding lacks.
func isBadText(err error) bool {
	return hasCode(err, codeCharacterNotInRepertoire) || hasCode(err, codeUntranslatableCharacter)
}
