package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/database"
)

// adminEnv is what every admin command shares: the --db flag.
type adminEnv struct {
	db string
}

// withStore opens the store, runs fn and closes the store.
func (a *adminEnv) withStore(cmd *cobra.Command, fn func(ctx context.Context, s store.Store) error) error {
	ctx := cmd.Context()
	s, err := database.Open(ctx, a.db)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}

func newAdminCmd() *cobra.Command {
	a := &adminEnv{}
	cmd := group("admin", "Manage organizations, API keys and jobs of a reference server's database")
	cmd.Long = `Manage organizations, API keys and jobs directly in a reference server's
database. Each command prints only the new id or key on stdout, so scripts can
capture it; errors go to stderr with exit code 1.`
	cmd.PersistentFlags().StringVar(&a.db, "db", defaultDB, dbUsage)
	cmd.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		return bindEnv(cmd, map[string]string{"db": "POLYJOBS_DB"})
	}
	cmd.AddCommand(a.orgCmd(), a.keyCmd(), a.jobCmd())
	return cmd
}

func (a *adminEnv) orgCmd() *cobra.Command {
	org := group("org", "Manage organizations")
	org.AddCommand(&cobra.Command{
		Use:   "create NAME",
		Short: "Create an organization and print its id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				o, err := s.CreateOrganization(ctx, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), o.ID)
				return nil
			})
		},
	})
	return org
}

func (a *adminEnv) keyCmd() *cobra.Command {
	key := group("key", "Manage API keys")
	var orgRef, kind string
	create := &cobra.Command{
		Use:   "create --org ORG [--kind user|org]",
		Short: "Create an API key and print it (it is shown only once)",
		Long: `Create an API key and print it. Only its hash is stored: the key is shown
this once. A user key is sent as "Authorization: Bearer KEY"; an org key as
HTTP Basic credentials with the organization id as user name and the key as
password.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k := store.KeyKind(kind)
			if !k.Valid() {
				return fmt.Errorf("unknown key kind %q: use user or org", kind)
			}
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				org, err := findOrg(ctx, s, orgRef)
				if err != nil {
					return err
				}
				secret, hash, err := apikey.New(k)
				if err != nil {
					return err
				}
				if _, err := s.CreateKey(ctx, org.ID, k, hash); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), secret)
				return nil
			})
		},
	}
	create.Flags().StringVar(&orgRef, "org", "", "organization id or name (required)")
	create.Flags().StringVar(&kind, "kind", string(store.KeyKindUser), "key kind: user (bearer) or org (basic)")
	_ = create.MarkFlagRequired("org")

	revoke := &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke an API key by its id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("key id", args[0])
			if err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				return s.RevokeKey(ctx, id)
			})
		},
	}
	idCmd := &cobra.Command{
		Use:   "id KEY",
		Short: "Print the id of a key (read from the argument, or stdin with -), for revoking it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			secret := args[0]
			if secret == "-" {
				var line string
				if _, err := fmt.Fscanln(cmd.InOrStdin(), &line); err != nil {
					return fmt.Errorf("read key from stdin: %w", err)
				}
				secret = line
			}
			if _, err := apikey.Parse(strings.TrimSpace(secret)); err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				k, err := s.KeyByHash(ctx, apikey.Hash(strings.TrimSpace(secret)))
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), k.ID)
				return nil
			})
		},
	}
	key.AddCommand(create, revoke, idCmd)
	return key
}

func (a *adminEnv) jobCmd() *cobra.Command {
	job := group("job", "Create jobs and move them through their lifecycle")
	var orgRef, typ string
	create := &cobra.Command{
		Use:   "create --org ORG --type TYPE",
		Short: "Create a job and print its id",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t := api.JobType(typ)
			if !t.Valid() {
				return fmt.Errorf("unknown job type %q: use one of %s", typ, jobTypeList())
			}
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				org, err := findOrg(ctx, s, orgRef)
				if err != nil {
					return err
				}
				j, err := s.CreateJob(ctx, org.ID, t)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), j.ID)
				return nil
			})
		},
	}
	create.Flags().StringVar(&orgRef, "org", "", "organization id or name (required)")
	create.Flags().StringVar(&typ, "type", "", "job type: "+jobTypeList()+" (required)")
	_ = create.MarkFlagRequired("org")
	_ = create.MarkFlagRequired("type")

	var result, message string
	finish := a.transitionCmd("finish ID [--result JSON]", "Mark a job done, with an optional JSON result", func() (store.Transition, error) {
		if result != "" && !json.Valid([]byte(result)) {
			return store.Transition{}, errors.New("--result is not valid JSON")
		}
		var raw json.RawMessage
		if result != "" {
			raw = json.RawMessage(result)
		}
		return store.Finish(raw), nil
	})
	finish.Flags().StringVar(&result, "result", "", "the job's result, as JSON")
	fail := a.transitionCmd("fail ID --error MSG", "Mark a job failed with a message", func() (store.Transition, error) {
		if strings.TrimSpace(message) == "" {
			return store.Transition{}, errors.New("--error is required and must not be empty")
		}
		return store.Fail(message), nil
	})
	fail.Flags().StringVar(&message, "error", "", "the failure message (required)")
	start := a.transitionCmd("start ID", "Mark a job running", func() (store.Transition, error) {
		return store.Start(), nil
	})
	job.AddCommand(create, start, finish, fail, a.jobShowCmd())
	return job
}

// transitionCmd is a command that moves the job named by its argument.
func (a *adminEnv) transitionCmd(use, short string, transition func() (store.Transition, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("job id", args[0])
			if err != nil {
				return err
			}
			t, err := transition()
			if err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				_, err := s.Transition(ctx, id, t)
				return err
			})
		},
	}
}

func (a *adminEnv) jobShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Print a job as the API would, whatever its organization",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID("job id", args[0])
			if err != nil {
				return err
			}
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				j, err := s.JobByID(ctx, id)
				if err != nil {
					return err
				}
				out := map[string]any{"job_id": j.ID, "org_id": j.OrgID, "type": j.Type, "status": j.Status,
					"result": j.Result, "error": nil, "created_at": j.CreatedAt, "updated_at": j.UpdatedAt}
				if j.Result == nil {
					out["result"] = nil
				}
				if j.Error != "" {
					out["error"] = j.Error
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			})
		},
	}
}

// findOrg resolves an organization by id or, failing that, by name.
func findOrg(ctx context.Context, s store.Store, ref string) (store.Organization, error) {
	if id, err := uuid.Parse(ref); err == nil {
		return s.Organization(ctx, id)
	}
	return s.OrganizationByName(ctx, ref)
}

// parseID parses a UUID argument with a helpful error.
func parseID(what, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, fmt.Errorf("%s %q is not a UUID", what, s)
	}
	return id, nil
}

// jobTypeList names the job types for help and errors.
func jobTypeList() string {
	types := store.JobTypes()
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
