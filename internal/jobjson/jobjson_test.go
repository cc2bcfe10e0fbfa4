package jobjson_test

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/polyjobs/polyjobs/internal/apispec"
	"github.com/polyjobs/polyjobs/internal/jobjson"
)

// TestWritesEveryJobResponseProperty fails when openapi.yaml gives
// JobResponse a property that the server's hand-written encoder does not
// write, or the encoder writes one the spec does not declare. Comparing with
// encoding/json alone would not catch an optional property, which the
// generated struct omits while it is empty.
func TestWritesEveryJobResponseProperty(t *testing.T) {
	want, err := apispec.Properties("JobResponse")
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Data map[string]json.RawMessage }
	body := jobjson.Append(nil, uuid.New(), "exportlogs", "failed", nil, "boom")
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("Append wrote invalid JSON %s: %v", body, err)
	}
	if got := slices.Sorted(maps.Keys(env.Data)); !slices.Equal(got, want) {
		t.Fatalf("internal/jobjson/jobjson.go writes JobResponse properties %v; openapi.yaml declares %v.\n"+
			"Write the new property in Append, carry it in store.Job (server/store/types.go) and the stores, "+
			"and show it in client.Job (client/job.go) and the CLI (cmd/polyjobs/job.go).", got, want)
	}
}
