package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/polyjobs/polyjobs/internal/buildinfo"
	"github.com/polyjobs/polyjobs/server"
)

// everyFlag calls fn for each flag declared on each command of the tree
// (not the help and version flags cobra adds).
func everyFlag(fn func(cmd *cobra.Command, f *pflag.Flag)) {
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) { fn(cmd, f) })
		cmd.PersistentFlags().VisitAll(func(f *pflag.Flag) { fn(cmd, f) })
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(newRootCmd())
}

// TestEnvironmentNames: a flag's variable is POLYJOBS_ and its name, so
// that one can be guessed from the other; the help names it.
func TestEnvironmentNames(t *testing.T) {
	everyFlag(func(cmd *cobra.Command, f *pflag.Flag) {
		env := flagEnv(f)
		if env == "" {
			return
		}
		if want := "POLYJOBS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")); env != want {
			t.Errorf("%s --%s: environment variable %s; want %s", cmd.CommandPath(), f.Name, env, want)
		}
		if !strings.HasSuffix(f.Usage, "(env "+env+")") {
			t.Errorf("%s --%s: help %q does not name %s", cmd.CommandPath(), f.Name, f.Usage, env)
		}
	})
}

// TestEveryServeFlagHasAVariable: serve is configured by its environment
// in containers, so every one of its flags has a variable.
func TestEveryServeFlagHasAVariable(t *testing.T) {
	for _, s := range (&serveOptions{}).flags() {
		if s.env == "" {
			t.Errorf("serve --%s has no environment variable", s.name)
		}
	}
}

// TestServeDefaultsComeFromTheServer: the defaults the server documents are
// the ones serve uses.
func TestServeDefaultsComeFromTheServer(t *testing.T) {
	cmd := newServeCmd()
	for name, want := range map[string]string{
		"poll-hint": server.DefaultPollHint.String(), "rate": "50", "burst": "100",
		"key-cache-ttl": server.DefaultKeyCacheTTL.String(), "job-cache-ttl": server.DefaultJobCacheTTL.String(),
		"retention": server.DefaultRetention.String(), "plain": "false",
	} {
		if got := cmd.Flags().Lookup(name).DefValue; got != want {
			t.Errorf("serve --%s defaults to %s; the server's default is %s", name, got, want)
		}
	}
	if server.DefaultRate != 50 || server.DefaultBurst != 100 {
		t.Errorf("update the rate and burst expected here: server.DefaultRate %v, DefaultBurst %v", server.DefaultRate, server.DefaultBurst)
	}
}

// TestEnvironmentFallback: each kind of flag takes its variable's value
// when the command line does not set it, and the command line wins.
func TestEnvironmentFallback(t *testing.T) {
	o := &serveOptions{}
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	addFlags(cmd.Flags(), o.flags()...)
	t.Setenv("POLYJOBS_POLL_HINT", "5s")
	t.Setenv("POLYJOBS_RATE", "2.5")
	t.Setenv("POLYJOBS_BURST", "7")
	t.Setenv("POLYJOBS_PLAIN", "true")
	t.Setenv("POLYJOBS_DEV_INTERVAL", "1s")
	t.Setenv("POLYJOBS_PURGE_INTERVAL", "2m")
	t.Setenv("POLYJOBS_DEV", "1")
	t.Setenv("POLYJOBS_ADDR", "")       // empty: ignored
	t.Setenv("POLYJOBS_ADMIN_ADDR", "") // empty: off, which an empty value means for it
	t.Setenv("POLYJOBS_LOG_LEVEL", "debug")
	if err := cmd.Flags().Parse([]string{"--log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(cmd); err != nil {
		t.Fatal(err)
	}
	if o.pollHint != 5*time.Second || o.rate != 2.5 || o.burst != 7 || !o.plain || o.devInterval != time.Second ||
		o.purgeInterval != 2*time.Minute || !o.dev || o.addr != "127.0.0.1:8080" || o.adminAddr != "" || o.logLevel != "warn" {
		t.Fatalf("options after the environment: %+v", o)
	}
	for name, want := range map[string]string{"poll-hint": "POLYJOBS_POLL_HINT", "log-level": "--log-level", "addr": "--addr (POLYJOBS_ADDR)"} {
		if got := flagSource(cmd, name); got != want {
			t.Errorf("flagSource(%s) = %q; want %q", name, got, want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		720 * time.Hour: "720h", time.Hour: "1h", time.Minute: "1m", 90 * time.Second: "1m30s",
		10 * time.Second: "10s", 20 * time.Millisecond: "20ms", 90 * time.Minute: "1h30m", 0: "0s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q; want %q", d, got, want)
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"api-key", "api-version", "base-url", "org-id", "org-key", "timeout", "output"}
	for typed, want := range map[string]string{
		"api-kye": "api-key", "org-ky": "org-key", "timout": "timeout", "base": "base-url", "zzz": "",
	} {
		if got := strings.Join(closest(typed, names), " "); got != want {
			t.Errorf("closest(%q) = %q; want %q", typed, got, want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	c := newCLI(t)
	want := buildinfo.Read().String() + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		if code, out, errOut := c.run(args...); code != 0 || out != want || errOut != "" {
			t.Errorf("polyjobs %v: exit %d, stdout %q, stderr %q; want %q", args, code, out, errOut, want)
		}
	}
	code, out, _ := c.run("version", "-o", "json")
	var v struct {
		Version   string `json:"version"`
		GoVersion string `json:"go_version"`
	}
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v.Version != buildinfo.Read().Version || v.GoVersion != buildinfo.Read().GoVersion {
		t.Fatalf("version -o json: exit %d, %q: %v", code, out, err)
	}
}
