package pgserver

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFindBinaries(t *testing.T) {
	dir, err := findBinaries()
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("findBinaries error %v is not ErrUnavailable", err)
		}
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	if !HasServer(dir) {
		t.Fatalf("findBinaries = %s, which lacks initdb or postgres", dir)
	}
	if MajorVersion("/usr/lib/postgresql/16/bin") != 16 || MajorVersion("/usr/local/bin") != 0 {
		t.Fatal("MajorVersion")
	}
}

func TestServerDatabase(t *testing.T) {
	if _, err := findBinaries(); err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := New(ctx, Options{TempPrefix: "pgserver-test-"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Remove()
	if !s.Running() || !strings.HasPrefix(s.Version(), "postgres") {
		t.Fatalf("running %v, version %q", s.Running(), s.Version())
	}
	name := UniqueName("pgserver_")
	dsn, err := CreateDatabase(ctx, s.AdminDSN(), name)
	if err != nil {
		t.Fatal(err)
	}
	if v := ServerVersion(ctx, dsn); !strings.HasPrefix(v, "PostgreSQL ") {
		t.Fatalf("ServerVersion = %q", v)
	}
	if err := DropDatabase(ctx, s.AdminDSN(), name); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateDatabase(ctx, "mysql://x", name); !errors.Is(err, ErrNotURL) {
		t.Fatalf("CreateDatabase on a mysql URL: %v", err)
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("running after Remove")
	}
}
