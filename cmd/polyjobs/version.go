package main

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/polyjobs/polyjobs/internal/buildinfo"
)

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of polyjobs, the commit it was built from and the Go version",
		Long: `Print the version of the polyjobs module in this binary (a release such as
v1.2.3, or a pseudo-version with +dirty when built from a modified checkout),
the VCS commit it was built from and the Go version that built it, as
polyjobs --version does.`,
		Args: exactArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return checkOutput(output, "text", "json")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			info := buildinfo.Read()
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"version": info.Version, "commit": info.Commit,
					"modified": info.Modified, "go_version": info.GoVersion, "platform": info.Platform}, true)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), info)
			return err
		},
	}
	addFlags(cmd.Flags(), flagSpec{name: "output", short: "o", value: stringFlag(&output, "text"),
		usage: "output format: text or json"})
	return cmd
}

// registerBuildInfo adds the gauge polyjobs_build_info{version, commit,
// goversion}, always 1, to reg: the usual way to expose a build to
// Prometheus.
func registerBuildInfo(reg prometheus.Registerer, info buildinfo.Info) error {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "polyjobs_build_info",
		Help: "The polyjobs build serving: module version, VCS commit and Go version; always 1.",
		ConstLabels: prometheus.Labels{
			"version": info.Version, "commit": info.Commit, "goversion": info.GoVersion,
		},
	})
	g.Set(1)
	return reg.Register(g)
}
