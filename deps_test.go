package polyjobs

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeanPackages keeps the SDK, and the store it shares its models with,
// free of the server stack: a program that only calls the API must not pay
// for echo, kin-openapi, YAML, JSON Schema or x/crypto.
func TestLeanPackages(t *testing.T) {
	forbidden := []string{
		"github.com/labstack/", "github.com/getkin/", "github.com/oapi-codegen/echo-middleware",
		"gopkg.in/yaml", "go.yaml.in/", "github.com/santhosh-tekuri/", "golang.org/x/crypto",
		"github.com/polyjobs/polyjobs/generated/apiserver", "github.com/polyjobs/polyjobs/server",
	}
	for _, pkg := range []string{"./client", "./server/store"} {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", pkg, err)
			}
			self := "github.com/polyjobs/polyjobs/" + strings.TrimPrefix(pkg, "./")
			for _, dep := range strings.Fields(string(out)) {
				if dep == self {
					continue
				}
				for _, f := range forbidden {
					if strings.HasPrefix(dep, f) {
						t.Errorf("%s depends on %s", pkg, dep)
					}
				}
			}
		})
	}
}
