package server

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/server/store"
)

// TestAppendJobEnvelopeMatchesEncodingJSON checks the hand-written encoder
// against encoding/json on the generated type, byte for byte.
func TestAppendJobEnvelopeMatchesEncodingJSON(t *testing.T) {
	id := uuid.Must(uuid.NewV7())
	cases := []store.Job{
		{ID: id, Type: api.JobTypeExportLogs, Status: api.JobStatusCreated},
		{ID: id, Type: api.JobTypeSampleModel, Status: api.JobStatusRunning},
		{ID: id, Type: api.JobTypeExportLogs, Status: api.JobStatusDone, Result: json.RawMessage(`{"url":"https://x.example/a?b=1&c=2"}`)},
		{ID: id, Type: api.JobTypePreviewModel, Status: api.JobStatusDone, Result: json.RawMessage(`[{"name":"id"},{"name":"email"}]`)},
		{ID: id, Type: api.JobTypeCreateModel, Status: api.JobStatusDone},
		{ID: uuid.Nil, Type: api.JobTypeConnectionProxy, Status: api.JobStatusFailed, Error: "quote \" backslash \\ newline \n tab \t <html> & ünïcode \u2028 \x01 \xff"},
	}
	for _, job := range cases {
		got, err := appendJobEnvelope(nil, job.ID, job.Type, job.Status, job.Result, job.Error)
		if err != nil {
			t.Fatal(err)
		}
		env := api.JobResponseEnvelope{Data: api.JobResponse{JobID: job.ID, Type: job.Type, Status: job.Status, Result: job.Result}}
		if job.Error != "" {
			env.Data.Error = &job.Error
		}
		want, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		// encoding/json escapes <, > and & inside a raw result; we send the
		// result as stored. Both are the same JSON value.
		if !strings.ContainsAny(string(job.Result), "<>&") && string(got) != string(want) {
			t.Fatalf("appendJobEnvelope =\n%s\nencoding/json =\n%s", got, want)
		}
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("appendJobEnvelope wrote invalid JSON %s: %v", got, err)
		}
		json.Unmarshal(want, &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("appendJobEnvelope =\n%s\nencoding/json =\n%s", got, want)
		}
	}
	if _, err := appendJobEnvelope(nil, uuid.New(), "nope", api.JobStatusDone, nil, ""); err == nil {
		t.Fatal("a type outside the contract was encoded")
	}
}
