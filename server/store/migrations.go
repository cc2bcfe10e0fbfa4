package store

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Migration is one SQL migration of a store's schema: Version is the number
// its file name starts with (0003_notify.sql is 3).
type Migration struct {
	Version int64
	Name    string
	Body    string
}

// Migrations returns the migrations that match pattern in fsys, in the
// order of their versions.
func Migrations(fsys fs.FS, pattern string) ([]Migration, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	out := make([]Migration, 0, len(names))
	for _, name := range names {
		base := name[strings.LastIndex(name, "/")+1:]
		version, err := strconv.ParseInt(strings.SplitN(base, "_", 2)[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", name)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: version, Name: name, Body: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// CheckSchemaVersion refuses a database whose schema is newer than the
// newest migration this build knows: a newer polyjobs changed it, and this
// one would read and write it without knowing how.
func CheckSchemaVersion(applied int64, known []Migration) error {
	newest := int64(0)
	if len(known) > 0 {
		newest = known[len(known)-1].Version
	}
	if applied > newest {
		return fmt.Errorf("the database's schema is at version %d, newer than this polyjobs knows (%d): run a polyjobs as new as the one that upgraded it", applied, newest)
	}
	return nil
}
