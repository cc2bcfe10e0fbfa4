// Command polyjobs is the polyjobs binary: the reference server (serve), its
// administration (admin) and a client for the Get Job endpoint (job).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/polyjobs/polyjobs/internal/buildinfo"
	"github.com/polyjobs/polyjobs/internal/safetext"
	"github.com/polyjobs/polyjobs/server/store"
)

// Exit codes, the same for every command.
const (
	exitOK = 0
	// exitFailed: the command ran and failed. admin: the database refused
	// (not found, conflict, illegal transition) or is missing; serve: it
	// could not start or stopped on an error; job wait: the job failed.
	exitFailed = 1
	// exitUsage: the command line is wrong (unknown command or flag, wrong
	// number of arguments, a malformed value in a flag, an argument or an
	// environment variable). job get and job wait also use it for an API or
	// network error (exitRequest), as documented.
	exitUsage = 2
	// exitRequest: job get, job wait: the API answered with an error (401,
	// 404, ...) or could not be reached.
	exitRequest = exitUsage
	// exitTimeout: job wait: --timeout passed before the job finished.
	exitTimeout = 3
	// exitInterrupted: job wait: SIGINT or SIGTERM before the job finished,
	// as a shell reports a command that SIGINT ended.
	exitInterrupted = 130
)

// exitCodes documents the exit codes, for `job --help` and the README.
var exitCodes = []struct {
	code    int
	meaning string
}{
	{exitOK, "success; `job wait`: the job is done"},
	{exitFailed, "the command failed: `admin`: the database refused (not found, conflict, illegal transition) or does not exist; `serve`: it could not start; `job wait`: the job failed (printed, with its error on stderr)"},
	{exitUsage, "usage error (unknown command or flag, wrong arguments, a malformed value); `job get`/`job wait`: also an API or network error (401, 404, …)"},
	{exitTimeout, "`job wait`: `--timeout` passed; the last job seen is printed"},
	{exitInterrupted, "`job wait`: interrupted (SIGINT, as by Ctrl-C, or SIGTERM); the last job seen is printed"},
}

// exitCodeHelp lists the exit codes for --help.
func exitCodeHelp() string {
	var b strings.Builder
	b.WriteString("Exit codes:\n")
	for _, c := range exitCodes {
		fmt.Fprintf(&b, "  %d  %s\n", c.code, strings.ReplaceAll(c.meaning, "`", ""))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// exitError carries a process exit code with its error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode attaches an exit code to err.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usage marks err as a usage error.
func usage(err error) error { return withCode(exitUsage, err) }

// usagef is usage(fmt.Errorf(format, args...)).
func usagef(format string, args ...any) error { return usage(fmt.Errorf(format, args...)) }

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code. An error
// found before a command starts its work (by cobra, by an Args or PreRunE
// check) is a usage error unless it says otherwise; one the work returns
// without a code is exitFailed.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	started := false
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	addCompletionCmd(root)
	markStart(root, &started)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	code := exitFailed
	if !started || errors.Is(err, store.ErrInvalid) {
		// A value the database refused as malformed (a name, a result) is
		// a usage error too.
		code = exitUsage
	}
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if err.Error() != "" {
		reportError(cmd, stderr, err, code)
	}
	return code
}

// markStart makes every command of the tree set *started when its RunE
// begins.
func markStart(cmd *cobra.Command, started *bool) {
	if runE := cmd.RunE; runE != nil {
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			*started = true
			return runE(cmd, args)
		}
	}
	for _, c := range cmd.Commands() {
		markStart(c, started)
	}
}

// message is err's text as the CLI prints it: escaped for a terminal, and
// without the "polyjobs: " the SDK's errors start with, which the CLI adds.
func message(err error) string {
	return safetext.Escape(strings.TrimPrefix(err.Error(), "polyjobs: "))
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "polyjobs",
		Short: "Serve, administer and poll Polytomic's Get Job endpoint",
		Long: `polyjobs is a spec-first kit for Polytomic's asynchronous Get Job endpoint,
GET /api/jobs/{type}/{id}.

  polyjobs serve --dev        a reference server with a demo key and moving demo jobs
  polyjobs admin ...          organizations, API keys and jobs of a reference server
  polyjobs job get|wait ...   poll a job on Polytomic or on a reference server`,
		Version:       buildinfo.Read().String(),
		Args:          subcommandArgs,
		RunE:          showHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every command's flags fall back to their environment variables.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return applyEnv(cmd)
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.SetHelpCommand(newHelpCmd())
	root.AddCommand(newServeCmd(), newAdminCmd(), newJobCmd(), newVersionCmd())
	return root
}

// addCompletionCmd adds cobra's completion command to root, which must have
// its output set: the command keeps it. Made here rather than by cobra when
// it runs, an unknown shell is treated as every group treats an unknown
// subcommand.
func addCompletionCmd(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Args, c.RunE = subcommandArgs, showHelp
		}
	}
}

// newHelpCmd is `polyjobs help [command]`: cobra's, but a command that does
// not exist is a usage error with a suggestion, as everywhere else.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help about any command: polyjobs help admin job list is polyjobs admin job list --help.",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil {
				return usage(err)
			}
			if len(rest) > 0 {
				return subcommandArgs(cmd, rest)
			}
			return cmd.Help()
		},
	}
}

// group returns a command that only holds subcommands: run bare it prints its
// help; run with an unknown subcommand it fails with a suggestion.
func group(use, short string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: subcommandArgs, RunE: showHelp}
}

// suggestionDistance is the largest edit distance between a mistyped name
// (of a command or a flag) and the names suggested for it: two covers a
// swapped pair of letters.
const suggestionDistance = 2

func showHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// subcommandArgs is the Args of a command that holds subcommands: an
// argument there is a subcommand that does not exist.
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	if s := closest(args[0], names); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %s?", quoteAll(s))
	}
	return usagef("%s (see %s --help)", msg, cmd.CommandPath())
}

// flagError is every command's FlagErrorFunc: a usage error that suggests
// the flag meant.
func flagError(cmd *cobra.Command, err error) error {
	var notExist *pflag.NotExistError
	if !errors.As(err, &notExist) || notExist.GetSpecifiedShortnames() != "" {
		return usagef("%v (see %s --help)", err, cmd.CommandPath())
	}
	name := notExist.GetSpecifiedName()
	msg := fmt.Sprintf("unknown flag --%s for %q", name, cmd.CommandPath())
	if name == "version" && cmd != cmd.Root() {
		return usagef("%s: the API version to request is --api-version; polyjobs --version prints polyjobs's own version", msg)
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if s := closest(name, names); len(s) > 0 {
		for i := range s {
			s[i] = "--" + s[i]
		}
		msg += fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
	}
	return usagef("%s (see %s --help)", msg, cmd.CommandPath())
}

// quoteAll quotes names and joins them with "or".
func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " or ")
}

// positional returns the names of the positional arguments in a command's
// Use line: the capitalized words that are neither a flag's value nor
// inside brackets ("finish ID [--result JSON]" has ID).
func positional(use string) []string {
	var names []string
	words := strings.Fields(use)
	depth := 0
	for i := 1; i < len(words); i++ {
		w := words[i]
		open := strings.HasPrefix(w, "[")
		depth += strings.Count(w, "[") - strings.Count(w, "]")
		switch {
		case open || depth > 0 || strings.HasSuffix(w, "]"):
		case strings.HasPrefix(w, "-"):
			i++ // the flag's value
		case w == strings.ToUpper(w):
			names = append(names, w)
		}
	}
	return names
}

// exactArgs is the Args of a command that takes exactly the positional
// arguments its Use line names.
func exactArgs(cmd *cobra.Command, args []string) error {
	names := positional(cmd.Use)
	if len(args) == len(names) {
		return nil
	}
	want := "no arguments"
	if len(names) > 0 {
		want = plural(len(names), "argument") + " (" + strings.Join(names, " ") + ")"
	}
	got := fmt.Sprint(len(args))
	if len(args) > 0 {
		q := make([]string, len(args))
		for i, a := range args {
			q[i] = fmt.Sprintf("%q", a)
		}
		got += ": " + strings.Join(q, " ")
	}
	return usagef("%s wants %s, got %s (see %s --help)", cmd.CommandPath(), want, got, cmd.CommandPath())
}

// plural returns "1 argument" or "2 arguments".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
