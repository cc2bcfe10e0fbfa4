package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/polyjobs/polyjobs/internal/syncbuf"
)

// buildBinary builds polyjobs into dir/bin/polyjobs, as make build does.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binary with")
	}
	bin := filepath.Join(dir, "bin", "polyjobs")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestDevBannerRunsAsPrinted starts the built binary as `make run` does,
// ./bin/polyjobs serve --dev, and runs the commands of its banner in a shell
// from the same directory, exactly as printed.
func TestDevBannerRunsAsPrinted(t *testing.T) {
	dir := t.TempDir()
	buildBinary(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := exec.CommandContext(ctx, "./bin/polyjobs", "serve", "--dev", "--addr", "127.0.0.1:0", "--admin-addr", "", "--dev-interval", "200ms")
	srv.Dir = dir
	srv.Env = cleanEnv()
	srv.Stderr = &syncbuf.Buffer{}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = srv.Wait()
	}()
	banner := readBanner(t, stdout, "--status created,running")

	// The API reference's address, printed as the URL to open.
	docs := regexp.MustCompile(`(?m)^API reference: +(http://\S+/docs)$`).FindStringSubmatch(banner)
	if docs == nil {
		t.Fatalf("the banner names no API reference:\n%s", banner)
	}
	resp, err := http.Get(docs[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET %s: %d %s; want the HTML page", docs[1], resp.StatusCode, ct)
	}

	// The shell commands of the banner: indented lines, joined where a line
	// ends with a backslash, one block per blank-line-separated paragraph.
	var blocks []string
	var block strings.Builder
	for _, line := range strings.Split(banner, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			if block.Len() > 0 {
				blocks = append(blocks, block.String())
				block.Reset()
			}
		case strings.HasPrefix(line, "  ") && regexp.MustCompile(`^(curl|export|\./bin/polyjobs) `).MatchString(trimmed):
			block.WriteString(line + "\n")
		case block.Len() > 0 && strings.HasPrefix(line, "    "):
			block.WriteString(line + "\n")
		}
	}
	var sawWait, sawList bool
	for _, b := range blocks {
		sawWait = sawWait || strings.Contains(b, "./bin/polyjobs job wait exportlogs ")
		sawList = sawList || strings.Contains(b, "./bin/polyjobs admin job list --org demo --status created,running")
		sh := exec.Command("sh", "-e", "-c", b)
		sh.Dir = dir
		sh.Env = cleanEnv()
		out, err := sh.Output()
		var ee *exec.ExitError
		switch {
		case strings.Contains(b, "job wait") && errors.As(err, &ee) && ee.ExitCode() == exitFailed:
			// The demo job failed (one in five does): the command ran.
		case err != nil:
			t.Fatalf("banner command\n%s\nfailed: %v\n%s", b, err, stderrOf(err))
		}
		if strings.Contains(b, "curl") || strings.Contains(b, "job wait") {
			var v map[string]any
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("banner command\n%s\nprinted %q, not JSON", b, out)
			}
		}
		if strings.Contains(b, "job list") && !strings.HasPrefix(string(out), "JOB_ID") {
			t.Fatalf("banner command\n%s\nprinted %q", b, out)
		}
	}
	if !sawWait || !sawList || len(blocks) != 4 {
		t.Fatalf("banner has %d command blocks (job wait: %v, job list: %v):\n%s", len(blocks), sawWait, sawList, banner)
	}
}

// TestVersionOfTheBuiltBinary: a binary built in a checkout knows its
// version, commit and Go version.
func TestVersionOfTheBuiltBinary(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("polyjobs %v: %v", args, err)
		}
		if !regexp.MustCompile(`^polyjobs \S+ \((commit [0-9a-f]{12}(, modified)?|commit unknown), go1\.\S+ \S+/\S+\)\n$`).Match(out) {
			t.Fatalf("polyjobs %v printed %q", args, out)
		}
	}
}

// readBanner reads the server's stdout until a line containing last.
func readBanner(t *testing.T, r interface{ Read([]byte) (int, error) }, last string) string {
	t.Helper()
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var b strings.Builder
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the server stopped before printing its banner:\n%s", b.String())
			}
			b.WriteString(line + "\n")
			if strings.Contains(line, last) {
				return b.String()
			}
		case <-timeout:
			t.Fatalf("no banner within 30s:\n%s", b.String())
		}
	}
}

// cleanEnv is the environment without POLYJOBS_ variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POLYJOBS_") {
			env = append(env, kv)
		}
	}
	return env
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
