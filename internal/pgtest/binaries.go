package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// debianBinaries is where Debian and Ubuntu install each major version's
// server binaries.
const debianBinaries = "/usr/lib/postgresql/*/bin"

// findBinaries returns the directory holding initdb and postgres: the newest
// major version under debianBinaries, else the directory of initdb on PATH.
func findBinaries() (string, error) {
	dirs, _ := filepath.Glob(debianBinaries)
	sort.Slice(dirs, func(i, j int) bool { return majorVersion(dirs[i]) > majorVersion(dirs[j]) })
	for _, dir := range dirs {
		if hasServer(dir) {
			return dir, nil
		}
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(initdb); hasServer(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb and postgres) under %s or on PATH", debianBinaries)
}

// majorVersion extracts N from /usr/lib/postgresql/N/bin (0 if it is not a number).
func majorVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// hasServer reports whether dir holds both initdb and postgres.
func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// account is the unprivileged user PostgreSQL runs as when the tests run as root.
type account struct {
	name     string
	uid, gid int
}

// serverAccount returns the account to run PostgreSQL as: nil (the current
// user) unless the tests run as root, then the "postgres" system user.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New(`running as root, which initdb refuses, and there is no "postgres" user to run PostgreSQL as`)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	return &account{name: u.Username, uid: uid, gid: gid}, nil
}

// serverEnv is the environment of initdb and postgres: ours without the PG*
// variables that could redirect them, in the C locale.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C")
}
