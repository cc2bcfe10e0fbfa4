package server_test

import (
	"context"
	"testing"

	"github.com/polyjobs/polyjobs/internal/pgserver"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/postgres"
)

// TestMain stops the PostgreSQL server pgserver may start for these tests.
func TestMain(m *testing.M) { pgserver.Main(m) }

func init() {
	storeFactories["postgres"] = func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pgserver.DSN(t))
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		return s
	}
}
