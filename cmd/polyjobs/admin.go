package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/polyjobs/polyjobs/server/apikey"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/database"
	"github.com/polyjobs/polyjobs/server/store/sqlite"
)

// adminEnv is what every admin command shares: the --db flag.
type adminEnv struct {
	db string
}

// withStore opens the existing database, runs fn and closes the store. A
// SQLite file that does not exist is an error, not a new empty database:
// `admin init` (or `serve`) creates one.
func (a *adminEnv) withStore(cmd *cobra.Command, fn func(ctx context.Context, s store.Store) error) error {
	ctx := cmd.Context()
	s, err := database.Open(ctx, a.db, database.MustExist())
	if errors.Is(err, sqlite.ErrNoDatabase) {
		return a.noDatabase(cmd)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}

// noDatabase is the error for a --db that names no database.
func (a *adminEnv) noDatabase(cmd *cobra.Command) error {
	where := fmt.Sprintf("%q", a.db)
	if abs, err := filepath.Abs(a.db); err == nil && abs != a.db {
		where += " (" + abs + ")"
	}
	source := "from " + flagSource(cmd, "db")
	if flagDefaulted(cmd, "db") {
		source = "the default of --db (POLYJOBS_DB)"
	}
	return fmt.Errorf("no database at %s (%s): give the right path, or create it with %s admin init",
		where, source, shellQuote(programName()))
}

func newAdminCmd() *cobra.Command {
	a := &adminEnv{}
	cmd := group("admin", "Manage organizations, API keys and jobs of a reference server's database")
	cmd.Long = `Manage organizations, API keys and jobs directly in a reference server's
database. Each command prints only the new id or key on stdout, so scripts can
capture it. The database must exist: admin init (or serve) creates it.

` + exitCodeHelp()
	addFlags(cmd.PersistentFlags(), dbFlag(&a.db))
	cmd.AddCommand(a.initCmd(), a.orgCmd(), a.keyCmd(), a.jobCmd())
	return cmd
}

func (a *adminEnv) initCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the database, or bring an existing one's schema up to date",
		Long: `Create the database --db names (a SQLite file, mode 0600) with its schema, or
apply pending migrations to an existing one. serve does the same when it
starts; the other admin commands refuse a database that does not exist.`,
		Args: exactArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := database.Open(cmd.Context(), a.db)
			if err != nil {
				return err
			}
			return s.Close()
		},
	}
}

func (a *adminEnv) orgCmd() *cobra.Command {
	org := group("org", "Manage organizations")
	org.AddCommand(&cobra.Command{
		Use:   "create NAME",
		Short: "Create an organization and print its id",
		Args:  exactArgs,
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
		Args: exactArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if !store.KeyKind(kind).Valid() {
				return usagef("unknown key kind %q: use user or org", kind)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			k := store.KeyKind(kind)
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
	addFlags(create.Flags(),
		flagSpec{name: "org", value: stringFlag(&orgRef, ""), usage: "organization id or name (required)"},
		flagSpec{name: "kind", value: stringFlag(&kind, string(store.KeyKindUser)), usage: "key kind: user (bearer) or org (basic)"},
	)
	_ = create.MarkFlagRequired("org")

	var revokeID uuid.UUID
	revoke := &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke an API key by its id",
		Args: func(cmd *cobra.Command, args []string) (err error) {
			if err := exactArgs(cmd, args); err != nil {
				return err
			}
			revokeID, err = parseID("key id", args[0])
			return usage(err)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				return s.RevokeKey(ctx, revokeID)
			})
		},
	}
	idCmd := &cobra.Command{
		Use:   "id KEY",
		Short: "Print the id of a key (read from the argument, or stdin with -), for revoking it",
		Args:  exactArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			secret := args[0]
			if secret == "-" {
				line, err := readOneLine(cmd.InOrStdin())
				if err != nil {
					return usagef("read the key from stdin: %w", err)
				}
				secret = line
			}
			secret = strings.TrimSpace(secret)
			if _, err := apikey.Parse(secret); err != nil {
				return usage(err)
			}
			return a.withStore(cmd, func(ctx context.Context, s store.Store) error {
				k, err := s.KeyByHash(ctx, apikey.Hash(secret))
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

// findOrg resolves an organization by id or, failing that, by name.
func findOrg(ctx context.Context, s store.Store, ref string) (store.Organization, error) {
	if id, err := uuid.Parse(ref); err == nil {
		return s.Organization(ctx, id)
	}
	return s.OrganizationByName(ctx, ref)
}

// parseID parses a UUID argument with a helpful error. An API key given
// by mistake is not echoed: errors end up in scrollback and CI logs.
func parseID(what, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	switch {
	case err == nil && len(s) == 36:
		return id, nil
	case apikey.HasKeyPrefix(s):
		return uuid.Nil, fmt.Errorf("%s: an API key was given, not a UUID (`polyjobs admin key id KEY` prints a key's id)", what)
	}
	return uuid.Nil, fmt.Errorf("%s %q is not a UUID", what, s)
}

// jobTypeList names the job types for help and errors.
func jobTypeList() string { return joinValues(store.JobTypes()) }

// joinValues lists the values of one of the contract's enums, comma-separated.
func joinValues[T ~string](values []T) string {
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = string(v)
	}
	return strings.Join(names, ", ")
}

// programName is how this binary was invoked, so that a command it prints
// for the user to run works as printed: a bare name when it was found on the
// PATH, else the path it was run by (./bin/polyjobs, /usr/local/bin/polyjobs).
func programName() string {
	if len(os.Args) == 0 || os.Args[0] == "" {
		return "polyjobs"
	}
	return os.Args[0]
}

// maxStdinLine bounds what readOneLine reads: far more than a key.
const maxStdinLine = 4 << 10

// readOneLine reads r to its end and returns its one non-blank line. Blank
// lines around it are allowed (a trailing newline is usual); no line, or
// more than one, is an error, so that a file of several keys is refused
// rather than answered for its first key only. Errors never quote the input.
func readOneLine(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxStdinLine+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxStdinLine {
		return "", fmt.Errorf("more than %d bytes: give one key on one line", maxStdinLine)
	}
	var found string
	n := 0
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" {
			found, n = line, n+1
		}
	}
	switch n {
	case 0:
		return "", errors.New("it is empty: give the key on one line")
	case 1:
		return found, nil
	default:
		return "", fmt.Errorf("it holds %d lines: give one key on one line", n)
	}
}
