package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/safetext"
	"github.com/polyjobs/polyjobs/server/store"
)

func (a *adminEnv) jobCmd() *cobra.Command {
	job := group("job", "Create, list and show jobs, and move them through their lifecycle")
	var orgRef, typ string
	create := &cobra.Command{
		Use:   "create --org ORG --type TYPE",
		Short: "Create a job and print its id",
		Args:  exactArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("type") && !api.JobType(typ).Valid() {
				return usagef("unknown job type %q: use one of %s", typ, jobTypeList())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				org, err := findOrg(ctx, s, orgRef)
				if err != nil {
					return err
				}
				j, err := s.CreateJob(ctx, org.ID, api.JobType(typ))
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), j.ID)
				return nil
			})
		},
	}
	addFlags(create.Flags(),
		flagSpec{name: "org", value: stringFlag(&orgRef, ""), usage: "organization id or name (required)"},
		flagSpec{name: "type", value: stringFlag(&typ, ""), usage: "job type: " + jobTypeList() + " (required)"},
	)
	_ = create.MarkFlagRequired("org")
	_ = create.MarkFlagRequired("type")

	var result, message string
	finish := a.transitionCmd("finish ID [--result JSON]", "Mark a job done, with an optional JSON result", func() (store.Transition, error) {
		if result == "" {
			return store.Finish(nil), nil
		}
		if !json.Valid([]byte(result)) {
			return store.Transition{}, fmt.Errorf("--result %q is not valid JSON", result)
		}
		return store.Finish(json.RawMessage(result)), nil
	})
	addFlags(finish.Flags(), flagSpec{name: "result", value: stringFlag(&result, ""), usage: "the job's result, as JSON"})
	fail := a.transitionCmd("fail ID --error MSG", "Mark a job failed with a message", func() (store.Transition, error) {
		if strings.TrimSpace(message) == "" {
			return store.Transition{}, fmt.Errorf("--error is required and must not be empty, got %q", message)
		}
		return store.Fail(message), nil
	})
	addFlags(fail.Flags(), flagSpec{name: "error", value: stringFlag(&message, ""), usage: "the failure message (required)"})
	start := a.transitionCmd("start ID", "Mark a job running", func() (store.Transition, error) {
		return store.Start(), nil
	})
	job.AddCommand(create, a.jobListCmd(), a.jobShowCmd(), start, finish, fail)
	return job
}

// idArg is the Args of a command that takes one job ID: it parses it into
// *id.
func idArg(id *uuid.UUID) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) (err error) {
		if err := exactArgs(cmd, args); err != nil {
			return err
		}
		*id, err = parseID("job id", args[0])
		return usage(err)
	}
}

// transitionCmd is a command that moves the job named by its argument;
// transition checks the flags before the database is opened.
func (a *adminEnv) transitionCmd(use, short string, transition func() (store.Transition, error)) *cobra.Command {
	var id uuid.UUID
	var t store.Transition
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  idArg(&id),
		PreRunE: func(cmd *cobra.Command, args []string) (err error) {
			t, err = transition()
			return usage(err)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				_, err := s.Transition(ctx, id, t)
				return err
			})
		},
	}
}

// adminJobView is how admin commands print a job: the API's fields and the
// ones only the database knows.
type adminJobView struct {
	JobID     uuid.UUID       `json:"job_id"`
	OrgID     uuid.UUID       `json:"org_id"`
	Type      string          `json:"type"`
	Status    string          `json:"status"`
	Result    json.RawMessage `json:"result"`
	Error     *string         `json:"error"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func newAdminJobView(j store.Job) adminJobView {
	v := adminJobView{JobID: j.ID, OrgID: j.OrgID, Type: string(j.Type), Status: string(j.Status),
		Result: j.Result, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt}
	if v.Result == nil {
		v.Result = json.RawMessage("null")
	}
	if j.Error != "" {
		v.Error = &j.Error
	}
	return v
}

func (a *adminEnv) jobShowCmd() *cobra.Command {
	var id uuid.UUID
	return &cobra.Command{
		Use:   "show ID",
		Short: "Print a job as JSON, whatever its organization",
		Args:  idArg(&id),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				j, err := s.JobByID(ctx, id)
				if err != nil {
					return err
				}
				return writeJSON(cmd.OutOrStdout(), newAdminJobView(j), true)
			})
		},
	}
}

// defaultListLimit is how many jobs `admin job list` shows unless --limit
// says otherwise.
const defaultListLimit = 50

func (a *adminEnv) jobListCmd() *cobra.Command {
	var (
		orgRef, output  string
		types, statuses []string
		limit           int
		filter          store.JobFilter
	)
	cmd := &cobra.Command{
		Use:   "list [--org ORG] [--type TYPE] [--status STATUS] [--limit N]",
		Short: "List jobs, oldest first: the newest --limit of them, of every organization or of one",
		Long: `List jobs, oldest first: the newest --limit of them, of every organization or
of --org. --type and --status may be repeated or given comma-separated lists.
The jobs of polyjobs serve --dev that are still moving:

  polyjobs admin job list --org demo --status created,running`,
		Args: exactArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			filter = store.JobFilter{Limit: limit}
			for _, t := range types {
				if !api.JobType(t).Valid() {
					return usagef("--type: unknown job type %q: use %s", t, jobTypeList())
				}
				filter.Types = append(filter.Types, api.JobType(t))
			}
			for _, s := range statuses {
				if !api.JobStatus(s).Valid() {
					return usagef("--status: unknown status %q: use %s", s, statusList())
				}
				filter.Statuses = append(filter.Statuses, api.JobStatus(s))
			}
			if limit < 0 {
				return usagef("--limit must be 0 (all) or more, got %d", limit)
			}
			return checkOutput(output, "text", "json")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				if orgRef != "" {
					org, err := findOrg(ctx, s, orgRef)
					if err != nil {
						return err
					}
					filter.OrgID = org.ID
				}
				jobs, err := s.ListJobs(ctx, filter)
				if err != nil {
					return err
				}
				if output == "json" {
					views := make([]adminJobView, len(jobs))
					for i, j := range jobs {
						views[i] = newAdminJobView(j)
					}
					return writeJSON(cmd.OutOrStdout(), views, true)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(w, "JOB_ID\tTYPE\tSTATUS\tUPDATED\tORG_ID")
				for _, j := range jobs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", j.ID, safetext.Escape(string(j.Type)), safetext.Escape(string(j.Status)),
						j.UpdatedAt.UTC().Format(time.RFC3339), j.OrgID)
				}
				return w.Flush()
			})
		},
	}
	addFlags(cmd.Flags(),
		flagSpec{name: "org", value: stringFlag(&orgRef, ""), usage: "organization id or name; every organization when empty"},
		flagSpec{name: "type", value: listFlag(&types, nil), usage: "only jobs of these types: " + jobTypeList()},
		flagSpec{name: "status", value: listFlag(&statuses, nil), usage: "only jobs in these statuses: " + statusList()},
		flagSpec{name: "limit", value: intFlag(&limit, defaultListLimit), usage: "at most this many of the newest matching jobs; 0 for all"},
		flagSpec{name: "output", short: "o", value: stringFlag(&output, "text"), usage: "output format: text (a table) or json (an array)"},
	)
	return cmd
}

// statusList names the job statuses for help and errors.
func statusList() string { return joinValues(api.JobStatusValues()) }
