package polyjobs

import _ "embed" // for OpenAPIYAML

// OpenAPIYAML is openapi.yaml, the contract, byte for byte: what the
// reference server serves at /openapi.yaml (server/apidocs). A string, so
// that no importer can change it.
//
//go:embed openapi.yaml
var OpenAPIYAML string
