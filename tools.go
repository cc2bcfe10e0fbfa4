//go:build tools

// Package polyjobs pins the code generator so that `go generate` uses the
// version recorded in go.mod.
package polyjobs

import (
	_ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"
)
