package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/polyjobs/polyjobs/internal/apispec"
)

// TestJobViewShowsEveryJobResponseProperty fails when openapi.yaml gives
// JobResponse a property that `polyjobs job get` does not print.
func TestJobViewShowsEveryJobResponseProperty(t *testing.T) {
	props, err := apispec.Properties("JobResponse")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	typ := reflect.TypeFor[jobView]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		got = append(got, name)
	}
	slices.Sort(got)
	if !slices.Equal(got, props) {
		t.Fatalf("the CLI's jobView (cmd/polyjobs/job.go) shows %v; openapi.yaml declares %v: add the property to jobView and printJob", got, props)
	}
}
