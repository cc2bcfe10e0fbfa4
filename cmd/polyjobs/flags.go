package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagSpec declares one flag of a command together with its environment
// variable and its default. It is the only place they are written: the
// flag's help text, its environment fallback and the README's flag tables
// (see readme_test.go) all come from it.
type flagSpec struct {
	// name is the long name, without the dashes.
	name string
	// short is the one-letter shorthand, or "".
	short string
	// env is the environment variable that gives the flag its value when the
	// command line does not: POLYJOBS_ and the name in capitals with
	// underscores; "" for a flag without one.
	env string
	// usage says what the flag does, for --help and the README.
	usage string
	// value is where the flag's value goes, with its default.
	value flagValue
	// emptyMeans is set for a flag whose empty value means something (the
	// admin listener's "off"): its variable set empty gives it that value.
	// Another flag's empty variable is ignored, as if unset.
	emptyMeans bool
}

// flagValue registers a flag on a flag set: one of stringFlag, boolFlag, ...
type flagValue func(fs *pflag.FlagSet, name, short, usage string)

func stringFlag(p *string, def string) flagValue {
	return func(fs *pflag.FlagSet, name, short, usage string) { fs.StringVarP(p, name, short, def, usage) }
}

func boolFlag(p *bool, def bool) flagValue {
	return func(fs *pflag.FlagSet, name, short, usage string) { fs.BoolVarP(p, name, short, def, usage) }
}

func intFlag(p *int, def int) flagValue {
	return func(fs *pflag.FlagSet, name, short, usage string) { fs.IntVarP(p, name, short, def, usage) }
}

func floatFlag(p *float64, def float64) flagValue {
	return func(fs *pflag.FlagSet, name, short, usage string) { fs.Float64VarP(p, name, short, def, usage) }
}

func durationFlag(p *time.Duration, def time.Duration) flagValue {
	return func(fs *pflag.FlagSet, name, short, usage string) { fs.DurationVarP(p, name, short, def, usage) }
}

// listFlag is a flag that may be repeated, each value a comma-separated list.
func listFlag(p *[]string, def []string) flagValue {
	return func(fs *pflag.FlagSet, name, short, usage string) { fs.StringSliceVarP(p, name, short, def, usage) }
}

// Flag annotations: a flag's environment variable, and whether its value
// came from there.
const (
	envAnnotation     = "polyjobs_env"
	fromEnvAnnotation = "polyjobs_from_env"
	emptyAnnotation   = "polyjobs_empty_means"
)

// addFlags registers specs on fs, to be listed in the order given; the help
// text of a flag with an environment variable names it.
func addFlags(fs *pflag.FlagSet, specs ...flagSpec) {
	fs.SortFlags = false
	for _, s := range specs {
		usage := s.usage
		if s.env != "" {
			usage += " (env " + s.env + ")"
		}
		s.value(fs, s.name, s.short, usage)
		if s.env != "" {
			_ = fs.SetAnnotation(s.name, envAnnotation, []string{s.env})
		}
		if s.emptyMeans {
			_ = fs.SetAnnotation(s.name, emptyAnnotation, []string{"true"})
		}
	}
}

// flagEnv returns the environment variable of a flag, "" if none.
func flagEnv(f *pflag.Flag) string {
	if v := f.Annotations[envAnnotation]; len(v) == 1 {
		return v[0]
	}
	return ""
}

// flagUsage returns a flag's help text without the environment variable
// addFlags appended to it.
func flagUsage(f *pflag.Flag) string {
	if env := flagEnv(f); env != "" {
		return strings.TrimSuffix(f.Usage, " (env "+env+")")
	}
	return f.Usage
}

// applyEnv gives every flag of cmd that the command line did not set the
// value of its environment variable, when that is set and not empty (or
// empty, for a flag whose empty value means something). The value is parsed
// as the flag's own would be, so a malformed one is an error that names the
// variable.
func applyEnv(cmd *cobra.Command) error {
	fs := cmd.Flags()
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		env := flagEnv(f)
		if env == "" || f.Changed {
			return
		}
		v, ok := os.LookupEnv(env)
		if !ok || v == "" && len(f.Annotations[emptyAnnotation]) == 0 {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			if cause := errors.Unwrap(err); cause != nil {
				err = cause
			}
			errs = append(errs, fmt.Errorf("%s=%q (for --%s): %w", env, v, f.Name, err))
			return
		}
		_ = fs.SetAnnotation(f.Name, fromEnvAnnotation, []string{"true"})
	})
	return errors.Join(errs...)
}

// flagSource names where the value of flag name came from, for a message
// about it: "--org-key" when given on the command line, "POLYJOBS_ORG_KEY"
// when taken from the environment, both when it is the default.
func flagSource(cmd *cobra.Command, name string) string {
	f := cmd.Flags().Lookup(name)
	if f == nil {
		return "--" + name
	}
	env := flagEnv(f)
	switch {
	case env == "":
		return "--" + name
	case len(f.Annotations[fromEnvAnnotation]) > 0:
		return env
	case f.Changed:
		return "--" + name
	}
	return "--" + name + " (" + env + ")"
}

// flagDefaulted reports whether a flag holds its default: set neither on the
// command line nor by its environment variable.
func flagDefaulted(cmd *cobra.Command, name string) bool {
	f := cmd.Flags().Lookup(name)
	return f != nil && !f.Changed && len(f.Annotations[fromEnvAnnotation]) == 0
}

// defaultText is a flag's default as the README shows it: durations
// without zero units (720h, not 720h0m0s), lists without brackets.
func defaultText(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "duration":
		d, err := time.ParseDuration(f.DefValue)
		if err != nil {
			return f.DefValue
		}
		return shortDuration(d)
	case "stringSlice":
		return strings.Trim(f.DefValue, "[]")
	}
	return f.DefValue
}

// shortDuration formats d as time.Duration.String does, without trailing
// zero units: 1h, 1m30s, 720h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// closest returns the candidates nearest to s, for "did you mean"
// suggestions: those fewest edits away, up to suggestionDistance, a
// candidate that starts with s counting as one edit away.
func closest(s string, candidates []string) []string {
	var out []string
	best := suggestionDistance + 1
	for _, c := range candidates {
		if c == s {
			continue
		}
		d := editDistance(s, c)
		if len(s) > 1 && strings.HasPrefix(c, s) {
			d = min(d, 1)
		}
		switch {
		case d < best:
			best, out = d, []string{c}
		case d == best:
			out = append(out, c)
		}
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
