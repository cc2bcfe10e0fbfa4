package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDevFilesAreIgnored: the files serve and make build write into the
// work tree by default, the dev keys above all, are in .gitignore, so that
// `git add .` does not commit them.
func TestDevFilesAreIgnored(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(git, "-C", root, "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("not in a git work tree")
	}
	files := []string{defaultDevKeys, defaultDB, defaultDB + "-wal", defaultDB + "-shm", "bin/polyjobs",
		"cmd/polyjobs/" + defaultDevKeys, "cmd/polyjobs/" + defaultDB}
	out, err := exec.Command(git, append([]string{"-C", root, "check-ignore", "--no-index", "--"}, files...)...).Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("git check-ignore: %v", err)
	}
	ignored := strings.Fields(string(out))
	for _, f := range files {
		found := false
		for _, i := range ignored {
			found = found || i == f
		}
		if !found {
			t.Errorf("%s is not in .gitignore", f)
		}
	}
}
