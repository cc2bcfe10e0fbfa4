package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/polyjobs/polyjobs/client"
	"github.com/polyjobs/polyjobs/cmd/polyjobs/internal/demo"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/database"
)

// Shell completion: cobra's `polyjobs completion bash|zsh|fish|powershell`
// writes the script; the functions here complete the arguments of `job get`
// and `job wait`.

// completionTimeout bounds the database lookup of a completion: a shell
// must not hang on a tab.
const completionTimeout = 2 * time.Second

// maxCompletedIDs is how many job ids a completion offers.
const maxCompletedIDs = 20

// completeJobArgs completes TYPE with the job types and ID, when the keys
// file of a `serve --dev` is in reach (POLYJOBS_DEV_KEYS, or the default in
// the current directory), with the demo jobs of that type, those still
// moving first.
func completeJobArgs(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		var out []cobra.Completion
		for _, t := range client.JobTypes() {
			if strings.HasPrefix(string(t), toComplete) {
				out = append(out, string(t))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	case 1:
		return demoJobIDs(cmd.Context(), client.JobType(args[0]), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// demoJobIDs returns the ids of the demo jobs of type typ that start with
// prefix, each with its status as description; none when there is no demo.
func demoJobIDs(ctx context.Context, typ client.JobType, prefix string) []cobra.Completion {
	if !typ.Valid() {
		return nil
	}
	creds, err := demo.ReadKeyFile(envOr("POLYJOBS_DEV_KEYS", defaultDevKeys))
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	s, err := database.Open(ctx, envOr("POLYJOBS_DB", defaultDB), database.MustExist())
	if err != nil {
		return nil
	}
	defer s.Close()
	jobs, err := s.ListJobs(ctx, store.JobFilter{OrgID: creds.OrgID, Types: []store.JobType{typ}, Limit: 200})
	if err != nil {
		return nil
	}
	// Newest first, and the jobs still moving before the finished ones.
	slices.Reverse(jobs)
	slices.SortStableFunc(jobs, func(a, b store.Job) int {
		switch {
		case a.Terminal() == b.Terminal():
			return 0
		case b.Terminal():
			return -1
		}
		return 1
	})
	var out []cobra.Completion
	for _, j := range jobs {
		if id := j.ID.String(); strings.HasPrefix(id, prefix) && len(out) < maxCompletedIDs {
			out = append(out, cobra.CompletionWithDesc(id, string(j.Status)))
		}
	}
	return out
}

// envOr returns the environment variable name, or def when it is empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
