package server_test

import (
	"context"
	"testing"

	"github.com/polyjobs/polyjobs/internal/pgtest"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/postgres"
)

// TestMain stops the PostgreSQL server pgtest may start for these tests.
func TestMain(m *testing.M) { pgtest.Main(m) }

func init() {
	storeFactories["postgres"] = func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		return s
	}
}
