package jobjson_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/internal/jobjson"
)

// TestWritesEveryJobResponseProperty fails when openapi.yaml gives
// JobResponse, or the envelope around it, a property that the server's
// hand-written encoder does not write, or the encoder writes one the spec
// does not declare. Comparing with encoding/json alone would not catch an
// optional property, which the generated struct omits while it is empty.
func TestWritesEveryJobResponseProperty(t *testing.T) {
	body := jobjson.Append(nil, uuid.New(), "exportlogs", "failed", nil, "boom")
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("Append wrote invalid JSON %s: %v", body, err)
	}
	wantTop, err := apispec.Properties("JobResponseEnvelope")
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(top)); !slices.Equal(got, wantTop) {
		t.Fatalf("internal/jobjson/jobjson.go writes JobResponseEnvelope properties %v; openapi.yaml declares %v.\n"+
			"Write the new property in Append, and read it in client/job.go.", got, wantTop)
	}
	want, err := apispec.Properties("JobResponse")
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Data map[string]json.RawMessage }
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("Append wrote invalid JSON %s: %v", body, err)
	}
	if got := slices.Sorted(maps.Keys(env.Data)); !slices.Equal(got, want) {
		t.Fatalf("internal/jobjson/jobjson.go writes JobResponse properties %v; openapi.yaml declares %v.\n"+
			"Write the new property in Append, carry it in store.Job (server/store/types.go) and the stores, "+
			"and show it in client.Job (client/job.go) and the CLI (cmd/polyjobs/job.go).", got, want)
	}
}

// TestAppendMatchesEncodingJSON checks the hand-written encoder against
// encoding/json on the generated type, byte for byte.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	id := uuid.Must(uuid.NewV7())
	cases := []api.JobResponse{
		{JobID: id, Type: api.JobTypeExportLogs, Status: api.JobStatusCreated},
		{JobID: id, Type: api.JobTypeSampleModel, Status: api.JobStatusRunning},
		{JobID: id, Type: api.JobTypeExportLogs, Status: api.JobStatusDone, Result: json.RawMessage(`{"url":"https://x.example/a?b=1&c=2"}`)},
		{JobID: id, Type: api.JobTypePreviewModel, Status: api.JobStatusDone, Result: json.RawMessage(`[{"name":"id"},{"name":"email"}]`)},
		{JobID: id, Type: api.JobTypeCreateModel, Status: api.JobStatusDone},
		{JobID: uuid.Nil, Type: api.JobTypeConnectionProxy, Status: api.JobStatusFailed, Error: ptr("quote \" backslash \\ newline \n tab \t <html> & ünïcode \u2028 \x01 \xff")},
	}
	for _, job := range cases {
		errMsg := ""
		if job.Error != nil {
			errMsg = *job.Error
		}
		got := jobjson.Append(nil, job.JobID, string(job.Type), string(job.Status), job.Result, errMsg)
		want, err := json.Marshal(api.JobResponseEnvelope{Data: job})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		// encoding/json escapes <, > and & inside a raw result; we send the
		// result as stored. Both are the same JSON value.
		if !strings.ContainsAny(string(job.Result), "<>&") && string(got) != string(want) {
			t.Fatalf("Append =\n%s\nencoding/json =\n%s", got, want)
		}
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("Append wrote invalid JSON %s: %v", got, err)
		}
		json.Unmarshal(want, &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("Append =\n%s\nencoding/json =\n%s", got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
