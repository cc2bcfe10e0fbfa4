package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/polyjobs/polyjobs/client"
)

// The README's command table, flag tables and exit codes are generated from
// the commands and their flag declarations; TestREADME fails when they
// differ, and -update rewrites them:
//
//	go test ./cmd/polyjobs -run TestREADME -update
var update = flag.Bool("update", false, "rewrite the generated parts of README.md")

const readmePath = "../../README.md"

// TestREADME keeps the README's command table, flag tables and exit codes
// the binary's own.
func TestREADME(t *testing.T) {
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	root := newRootCmd()
	addCompletionCmd(root)
	find := func(path ...string) *cobra.Command {
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	job, get, wait := find("job"), find("job", "get"), find("job", "wait")
	admin := find("admin")
	parts := map[string]string{
		"commands":    commandTable(root),
		"serve-flags": flagTable(flagRows("", find("serve").LocalNonPersistentFlags())),
		"admin-flags": flagTable(adminFlagRows(admin)...),
		"job-flags": flagTable(flagRows("", job.PersistentFlags()),
			flagRows("get", get.LocalNonPersistentFlags()), flagRows("wait", wait.LocalNonPersistentFlags())),
		"exit-codes": exitCodeTable(),
	}
	for name, want := range parts {
		re := regexp.MustCompile(`(?s)(<!-- generated: ` + name + ` [^\n]*-->\n)(.*?)(<!-- end of generated: ` + name + ` -->)`)
		m := re.FindStringSubmatchIndex(readme)
		if m == nil {
			t.Errorf("README.md has no generated part %q", name)
			continue
		}
		if got := readme[m[4]:m[5]]; got != want {
			if *update {
				readme = readme[:m[4]] + want + readme[m[5]:]
				continue
			}
			t.Errorf("README.md's %s differ from the binary's: run go test ./cmd/polyjobs -run TestREADME -update\n got:\n%s\nwant:\n%s", name, got, want)
		}
	}
	if *update && readme != string(data) {
		if err := os.WriteFile(readmePath, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// commandTable lists every command that does something, with its arguments
// and what it does.
func commandTable(root *cobra.Command) string {
	type row struct{ use, short string }
	var rows []row
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c != root {
			return
		}
		switch {
		case c.Name() == "completion":
			var shells []string
			for _, s := range c.Commands() {
				shells = append(shells, s.Name())
			}
			rows = append(rows, row{c.CommandPath() + " " + strings.Join(shells, "|"), "print the shell completion script"})
			return
		case !c.HasAvailableSubCommands():
			_, args, _ := strings.Cut(c.Use, " ")
			rows = append(rows, row{strings.TrimSpace(c.CommandPath() + " " + args), lowerFirst(c.Short)})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	width := 0
	for _, r := range rows {
		width = max(width, len(r.use))
	}
	var b strings.Builder
	b.WriteString("```\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s  # %s\n", width, r.use, r.short)
	}
	b.WriteString("```\n")
	return b.String()
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// flagRows returns the table rows of the flags in fs; label, when not
// empty, names the command they belong to.
func flagRows(label string, fs *pflag.FlagSet) []string {
	var rows []string
	fs.SortFlags = false // in the order they are declared
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		name := "`--" + f.Name + "`"
		if f.Shorthand != "" {
			name = "`-" + f.Shorthand + "`, " + name
		}
		if label != "" {
			name += " (" + label + ")"
		}
		env, def := flagEnv(f), defaultText(f)
		if env != "" {
			env = "`" + env + "`"
		}
		if def == string(client.DefaultVersion) {
			def = "the newest"
		} else if def != "" {
			def = "`" + def + "`"
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s |", name, env, def, strings.ReplaceAll(specNeutral(flagUsage(f)), "|", `\|`)))
	})
	return rows
}

// adminFlagRows returns the rows of --db and of every admin command's own
// flags, labelled with the command.
func adminFlagRows(admin *cobra.Command) [][]string {
	sections := [][]string{flagRows("", admin.PersistentFlags())}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			label := strings.TrimPrefix(sub.CommandPath(), admin.CommandPath()+" ")
			sections = append(sections, flagRows(label, sub.LocalNonPersistentFlags()))
			walk(sub)
		}
	}
	walk(admin)
	return sections
}

// specNeutral names, in the README's tables, the lists that come from
// openapi.yaml instead of spelling them out (and flagRows the default API
// version), so that a job type or
// API version added to the spec changes the binary's help, which spells them
// out, but not the README.
func specNeutral(s string) string {
	s = strings.ReplaceAll(s, jobTypeList(), "any of openapi.yaml's job types")
	return strings.ReplaceAll(s, joinValues(client.Versions()), "any of openapi.yaml's versions")
}

// flagTable is a Markdown table of flag rows.
func flagTable(sections ...[]string) string {
	var b strings.Builder
	b.WriteString("| flag | env | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, rows := range sections {
		for _, r := range rows {
			b.WriteString(r + "\n")
		}
	}
	return b.String()
}

// exitCodeTable is a Markdown table of the exit codes.
func exitCodeTable() string {
	var b strings.Builder
	b.WriteString("| exit code | meaning |\n| --- | --- |\n")
	for _, c := range exitCodes {
		fmt.Fprintf(&b, "| %d | %s |\n", c.code, c.meaning)
	}
	return b.String()
}
