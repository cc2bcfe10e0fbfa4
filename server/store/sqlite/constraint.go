package sqlite

import (
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

const (
	constraintUnique     = sqlite3.SQLITE_CONSTRAINT_UNIQUE
	constraintPrimaryKey = sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	constraintForeignKey = sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
)

// isConstraint reports whether err is the SQLite constraint violation code.
func isConstraint(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code
}
