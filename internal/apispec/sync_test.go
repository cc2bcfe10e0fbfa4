package apispec_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/polyjobs/polyjobs/generated/apiserver"
	"github.com/polyjobs/polyjobs/generated/controlserver"
)

// TestGeneratedSpecsAreTheSpecs checks that the specs generated/ embeds,
// which the server validates with and the tests check every response
// against, are openapi.yaml and control.openapi.yaml as they are now: an edit
// not followed by make generate fails here, in make test, and not only in
// make check-generated.
func TestGeneratedSpecsAreTheSpecs(t *testing.T) {
	for _, tc := range []struct {
		file      string
		generated func() (*openapi3.T, error)
	}{
		{"openapi.yaml", apiserver.GetSpec},
		{"control.openapi.yaml", controlserver.GetSpec},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile("../../" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			source, err := openapi3.NewLoader().LoadFromData(data)
			if err != nil {
				t.Fatalf("load %s: %v", tc.file, err)
			}
			embedded, err := tc.generated()
			if err != nil {
				t.Fatal(err)
			}
			// oapi-codegen embeds operation ids as it names them in Go
			// ("getJob" becomes "GetJob").
			for path, item := range source.Paths.Map() {
				for method, op := range item.Operations() {
					item := embedded.Paths.Find(path)
					if item == nil {
						continue // a path generated/ does not have yet: the comparison below fails
					}
					if gen := item.GetOperation(method); gen != nil && strings.EqualFold(gen.OperationID, op.OperationID) {
						gen.OperationID = op.OperationID
					}
				}
			}
			if !bytes.Equal(mustJSON(t, source), mustJSON(t, embedded)) {
				t.Errorf("generated/ embeds another %s than the one in the repository: run make generate", tc.file)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
