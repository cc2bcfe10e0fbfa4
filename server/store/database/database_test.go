package database_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/polyjobs/polyjobs/server/store/database"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://u:hunter2@db:5432/x?sslmode=disable", "postgres://u:xxxxx@db:5432/x?sslmode=disable"},
		{"postgresql://u@db/x?sslmode=disable&password=hunter2", "postgresql://u@db/x?sslmode=disable&password=xxxxx"},
		{"postgres://db/x?PASSWORD=hunter2&sslpassword=hunter2&application_name=a", "postgres://db/x?PASSWORD=xxxxx&sslpassword=xxxxx&application_name=a"},
		{"postgres://u:hunter2@db/x?password=hunter2", "postgres://u:xxxxx@db/x?password=xxxxx"},
		{"host=db user=u password=hunter2 dbname=x", "host=db user=u password=xxxxx dbname=x"},
		{"host=db password = 'hunter 2\\' x' dbname=x", "host=db password = xxxxx dbname=x"},
		{"polyjobs.db", "polyjobs.db"},
		{"/var/lib/polyjobs/polyjobs.db", "/var/lib/polyjobs/polyjobs.db"},
	} {
		got := database.Redact(tc.dsn)
		if got != tc.want {
			t.Errorf("Redact(%q) = %q; want %q", tc.dsn, got, tc.want)
		}
		if strings.Contains(got, "hunter") {
			t.Errorf("Redact(%q) = %q shows the password", tc.dsn, got)
		}
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	if _, err := database.Open(ctx, missing, database.MustExist()); !errors.Is(err, sqlite.ErrNoDatabase) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Open(missing, MustExist) = %v; want ErrNoDatabase naming the path", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("Open(missing, MustExist) created the file")
	}
	s, err := database.Open(ctx, missing)
	if err != nil {
		t.Fatalf("Open creates a new SQLite database: %v", err)
	}
	s.Close()
	if info, err := os.Stat(missing); err != nil || info.Mode().Perm() != sqlite.FileMode {
		t.Fatalf("new database: %v, %v; want mode %v", info.Mode(), err, sqlite.FileMode)
	}
	s, err = database.Open(ctx, missing, database.MustExist())
	if err != nil {
		t.Fatalf("Open(existing, MustExist): %v", err)
	}
	s.Close()
	if _, err := database.Open(ctx, "host=db password=hunter2"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Open(key=value DSN) = %v; want a clear refusal without the password", err)
	}
}
