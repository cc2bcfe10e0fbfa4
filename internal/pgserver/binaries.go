package pgserver

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DebianBinaries is where Debian and Ubuntu install each major version's
// server binaries.
const DebianBinaries = "/usr/lib/postgresql/*/bin"

// findBinaries returns the directory holding initdb and postgres: the newest
// major version under DebianBinaries, else the directory of initdb on PATH.
// Its error, when there is neither, is ErrUnavailable.
func findBinaries() (string, error) {
	dirs, _ := filepath.Glob(DebianBinaries)
	sort.Slice(dirs, func(i, j int) bool { return MajorVersion(dirs[i]) > MajorVersion(dirs[j]) })
	for _, dir := range dirs {
		if HasServer(dir) {
			return dir, nil
		}
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(initdb); HasServer(dir) {
			return dir, nil
		}
	}
	return "", unavailablef("no PostgreSQL server binaries (initdb and postgres) under %s or on PATH", DebianBinaries)
}

// MajorVersion extracts N from /usr/lib/postgresql/N/bin (0 if it is not a number).
func MajorVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// HasServer reports whether dir holds both initdb and postgres.
func HasServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// Account is the unprivileged user PostgreSQL runs as when we run as root.
type Account struct {
	Name     string
	UID, GID int
}

// ServerAccount returns the account to run PostgreSQL as: nil (the current
// user) unless we run as root, then the "postgres" system user. A missing
// postgres user is ErrUnavailable.
func ServerAccount() (*Account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, unavailablef(`running as root, which initdb refuses, and there is no "postgres" user to run PostgreSQL as`)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	return &Account{Name: u.Username, UID: uid, GID: gid}, nil
}

// Env is the environment of initdb and postgres: ours without the PG*
// variables that could redirect them, in the C locale.
func Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C")
}
