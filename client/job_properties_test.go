package client

import (
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/polyjobs/polyjobs/internal/apispec"
)

// jobFields maps each JobResponse property to the Job field that carries it.
var jobFields = map[string]string{
	"job_id": "ID",
	"type":   "Type",
	"status": "Status",
	"result": "Result",
	"error":  "Error",
}

// TestJobCarriesEveryJobResponseProperty fails when openapi.yaml gives
// JobResponse a property that Job does not carry.
func TestJobCarriesEveryJobResponseProperty(t *testing.T) {
	props, err := apispec.Properties("JobResponse")
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(jobFields)); !slices.Equal(got, props) {
		t.Fatalf("client.Job carries JobResponse properties %v; openapi.yaml declares %v.\n"+
			"Add a field to Job (client/job.go), fill it in decodeJob (client/getjob.go) and list it in jobFields here.", got, props)
	}
	typ := reflect.TypeFor[Job]()
	for prop, field := range jobFields {
		if _, ok := typ.FieldByName(field); !ok {
			t.Errorf("JobResponse property %q: client.Job has no field %s (client/job.go)", prop, field)
		}
	}
}
