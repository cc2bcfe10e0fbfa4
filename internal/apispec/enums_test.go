package apispec_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/polyjobs/polyjobs/generated/api"
	"github.com/polyjobs/polyjobs/internal/apispec"
)

// TestEnumListsMatchSpec checks that the generated <Type>Values lists, from
// which all hand-written code takes its job types, statuses and versions,
// hold exactly the spec's enum values in the spec's order.
func TestEnumListsMatchSpec(t *testing.T) {
	spec, err := apispec.Load()
	if err != nil {
		t.Fatal(err)
	}
	generated := map[string][]string{
		"JobType":    valueStrings(api.JobTypeValues()),
		"JobStatus":  valueStrings(api.JobStatusValues()),
		"APIVersion": valueStrings(api.APIVersionValues()),
	}
	for name, got := range generated {
		t.Run(name, func(t *testing.T) {
			ref, ok := spec.Components.Schemas[name]
			if !ok {
				t.Fatalf("no schema %s in openapi.yaml", name)
			}
			var want []string
			for _, v := range ref.Value.Enum {
				want = append(want, fmt.Sprint(v))
			}
			if !slices.Equal(got, want) {
				t.Errorf("api.%sValues() = %v; openapi.yaml lists %v: run make generate", name, got, want)
			}
		})
	}
	versions := api.APIVersionValues()
	if !slices.IsSorted(versions) {
		t.Errorf("openapi.yaml must list APIVersion oldest first (the last is the newest): %v", versions)
	}
}

// valueStrings converts enum values to strings.
func valueStrings[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// TestInfoVersionIsTheNewest keeps openapi.yaml's own version, and the
// sentence of its description that names it, the newest APIVersion: a
// version added to the enum is added there too.
func TestInfoVersionIsTheNewest(t *testing.T) {
	spec, err := apispec.Load()
	if err != nil {
		t.Fatal(err)
	}
	versions := api.APIVersionValues()
	newest := string(versions[len(versions)-1])
	if spec.Info.Version != newest {
		t.Errorf("openapi.yaml's info.version is %q; the newest APIVersion is %q: make them the same", spec.Info.Version, newest)
	}
	if sentence := "describes version `" + newest + "`, the newest"; !strings.Contains(spec.Info.Description, sentence) {
		t.Errorf("openapi.yaml's info.description does not say %q", sentence)
	}
}
