package main

import (
	"context"
	"fmt"
	"io"

	"github.com/polyjobs/polyjobs/cmd/polyjobs/internal/demo"
	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/store"
	"github.com/polyjobs/polyjobs/server/store/database"
)

// printDevBanner prints the demo credentials and paste-ready commands.
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
	fmt.Fprintf(w, `
polyjobs dev server: %s  (database %s)

  Organization  %s  (%s)
  User key      %s
  Org key       %s

Demo keys are kept in %s between runs. Demo jobs of every type move
created -> running -> done|failed every %s.

Try it:

  curl -s -H 'Authorization: Bearer %s' \
    %s/api/jobs/exportlogs/%s

  curl -s -u '%s:%s' \
    %s/api/jobs/samplemodel/%s

  export POLYJOBS_BASE_URL=%s POLYJOBS_API_KEY=%s
  polyjobs job wait exportlogs %s

`, baseURL, database.Redact(o.db),
		creds.OrgID, demo.OrgName, creds.UserKey, creds.OrgKey,
		o.devKeys, o.devInterval,
		creds.UserKey, baseURL, exportID,
		creds.OrgID, creds.OrgKey, baseURL, sampleID,
		baseURL, creds.UserKey, exportID)
	return nil
}
