// Package polyjobs is a spec-first Go kit for Polytomic's asynchronous Get Job
// endpoint, GET /api/jobs/{type}/{id}.
//
// openapi.yaml is the contract. `go generate ./...` turns it, with the
// oapi-codegen version pinned in tools.go and the configuration files in api/,
// into generated/api (models, with each enum's values in the spec's order, and
// a typed client: all the SDK needs) and generated/apiserver (an echo
// strict-server interface and the embedded spec). The client package is the Go
// SDK, the server package the reference implementation, and cmd/polyjobs the
// binary that serves, administers and polls.
package polyjobs

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/models.yaml openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/client.yaml openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/server.yaml openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/spec.yaml openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/control-models.yaml control.openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/control-client.yaml control.openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/control-server.yaml control.openapi.yaml
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen -config api/control-spec.yaml control.openapi.yaml
