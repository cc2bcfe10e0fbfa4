package pgserver

import (
	"errors"
	"fmt"
)

// ErrUnavailable matches (with errors.Is) the errors saying that PostgreSQL
// cannot be had here at all: no binaries, or root without a postgres user.
// Such errors read as their reason alone.
var ErrUnavailable = errors.New("PostgreSQL is unavailable")

// unavailableError is a reason why PostgreSQL is unavailable.
type unavailableError struct{ reason string }

func (e *unavailableError) Error() string        { return e.reason }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// unavailablef returns an unavailableError.
func unavailablef(format string, args ...any) error {
	return &unavailableError{reason: fmt.Sprintf(format, args...)}
}
