package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs the binary's command line in-process.
type cli struct {
	t  *testing.T
	db string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, db: filepath.Join(t.TempDir(), "polyjobs.db")}
}

// run runs args and returns the exit code, stdout and stderr.
func (c *cli) run(args ...string) (int, string, string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// admin runs an admin command on the test database and expects success.
func (c *cli) admin(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(append([]string{"admin", "--db", c.db}, args...)...)
	if code != 0 {
		c.t.Fatalf("polyjobs admin %v: exit %d: %s", args, code, errOut)
	}
	return strings.TrimSpace(out)
}
