// Package e2e holds process-level tests of the polyjobs binary: several
// `polyjobs serve` replicas on one PostgreSQL database, driven by
// `polyjobs admin` commands and checked through the HTTP API, every response
// validated against openapi.yaml.
//
// The processes are built, started and stopped by internal/proctest, once per
// test binary (when the tests run with -race, the serve processes get a
// race-enabled build and the admin commands a plain one). The tests need
// PostgreSQL through internal/pgserver: without it they are skipped loudly,
// or fail when POLYJOBS_REQUIRE_POSTGRES is set.
package e2e
