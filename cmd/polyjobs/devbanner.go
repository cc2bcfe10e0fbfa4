package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/polyjobs/polyjobs/cmd/polyjobs/internal/demo"
	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/apidocs"
	"github.com/polyjobs/polyjobs/server/control"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/database"
)

// printDevBanner prints the demo credentials and commands that run as
// printed, from the directory the server was started in: the binary as it
// was invoked, and the database as it was given.
func printDevBanner(ctx context.Context, w io.Writer, baseURL string, o *serveOptions, creds demo.Credentials, st store.Store) error {
	active, err := st.ListJobs(ctx, store.JobFilter{OrgID: creds.OrgID, Statuses: []store.JobStatus{api.JobStatusCreated, api.JobStatusRunning}})
	if err != nil {
		return err
	}
	pick := func(typ store.JobType) string {
		for i := len(active) - 1; i >= 0; i-- {
			if active[i].Type == typ {
				return active[i].ID.String()
			}
		}
		return "JOB_ID"
	}
	exportID, sampleID := pick(api.JobTypeExportLogs), pick(api.JobTypeSampleModel)
	program := shellQuote(o.program)
	if o.program == "" {
		program = "polyjobs"
	}
	// The admin command names the database unless it is the default; a DSN
	// with a password is named by its variable, never printed.
	db := ""
	switch {
	case o.db == defaultDB:
	case database.Redact(o.db) != o.db:
		db = ` --db "$POLYJOBS_DB"`
	default:
		db = " --db " + shellQuote(o.db)
	}
	fmt.Fprintf(w, `
polyjobs dev server: %s  (database %s)
API reference:       %s%s
Control API under:   %s%s/  (endpoints in control.openapi.yaml; see the README: testing from any language)

  Organization  %s  (%s)
  User key      %s
  Org key       %s

Demo keys are kept in %s between runs.
Demo jobs of every type start %s to %s after they are created, and end,
done or failed, %s to %s after that.

Try it:

  curl -s -H 'Authorization: Bearer %s' \
    %s/api/jobs/exportlogs/%s

  curl -s -u '%s:%s' \
    %s/api/jobs/samplemodel/%s

  export POLYJOBS_BASE_URL=%s POLYJOBS_API_KEY=%s
  %s job wait exportlogs %s

Demo jobs finish within seconds. The ones still moving:

  %s admin%s job list --org %s --status created,running

`, baseURL, database.Redact(o.db), baseURL, apidocs.DocsPath, baseURL, control.Prefix,
		creds.OrgID, demo.OrgName, creds.UserKey, creds.OrgKey,
		o.devKeys, o.devInterval, 2*o.devInterval, 2*o.devInterval, 8*o.devInterval,
		creds.UserKey, baseURL, exportID,
		creds.OrgID, creds.OrgKey, baseURL, sampleID,
		baseURL, creds.UserKey,
		program, exportID,
		program, db, demo.OrgName)
	return nil
}

// shellSafe matches words a POSIX shell reads as they are.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
