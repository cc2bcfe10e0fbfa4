package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// bindEnv gives flags environment fallbacks: a flag not set on the command line
// takes the value of its variable when that is set. Values are parsed like the
// flag's own, so a malformed variable is a clear error.
func bindEnv(cmd *cobra.Command, vars map[string]string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		name, ok := vars[f.Name]
		if !ok || f.Changed || err != nil {
			return
		}
		if v, set := os.LookupEnv(name); set && v != "" {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}
