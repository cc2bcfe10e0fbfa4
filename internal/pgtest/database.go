package pgtest

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/pgserver"
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
	name := pgserver.UniqueName("pgtest_")
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	dsn, err := pgserver.CreateDatabase(ctx, adminDSN, name)
	if errors.Is(err, pgserver.ErrNotURL) {
		t.Fatalf("pgtest: %s must be a postgres:// URL", EnvDSN)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if alive != nil && !alive() {
			return // the whole server goes away
		}
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		if err := pgserver.DropDatabase(ctx, adminDSN, name); err != nil {
			if alive == nil {
				u, _ := url.Parse(adminDSN)
				t.Errorf("pgtest: drop database %s on %s: %v", name, u.Redacted(), err)
			} else {
				t.Logf("pgtest: drop database %s: %v", name, err)
			}
		}
	})
	return dsn
}
