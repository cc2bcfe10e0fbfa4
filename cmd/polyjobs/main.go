// Command polyjobs is the polyjobs binary: the reference server (serve), its
// administration (admin) and a client for the Get Job endpoint (job).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

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

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	code := 1
	if errors.As(err, &ee) {
		code = ee.code
	}
	if err.Error() != "" {
		fmt.Fprintf(stderr, "polyjobs: %v\n", err)
	}
	return code
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
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newAdminCmd(), newJobCmd())
	return root
}

// group returns a command that only holds subcommands: run bare it prints its
// help; run with an unknown subcommand it fails.
func group(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
}
