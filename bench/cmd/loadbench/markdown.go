//go:build linux

package main

import (
	_ "embed"
	"fmt"
	"io"
	"text/template"
)

// benchmarksTemplate is the template of BENCHMARKS.md.
//
//go:embed benchmarks.md.tmpl
var benchmarksTemplate string

// markdown renders BENCHMARKS.md.
var markdown = template.Must(template.New("BENCHMARKS.md").Funcs(template.FuncMap{
	"f0":   func(v float64) string { return fmt.Sprintf("%.0f", v) },
	"f2":   func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"ms":   ms,
	"mib":  mibString,
	"keys": sortedKeys,
	"date": func(r *results) string { return r.GeneratedAt.Format("2006-01-02 15:04 UTC") },
}).Parse(benchmarksTemplate))

// renderMarkdown writes BENCHMARKS.md for res.
func renderMarkdown(w io.Writer, res *results) error {
	return markdown.Execute(w, res)
}
