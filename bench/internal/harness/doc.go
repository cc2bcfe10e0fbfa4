// Package harness holds what the benchmark tools bench/cmd/loadbench and
// bench/cmd/soak share: building polyjobs, seeding it with `polyjobs admin`,
// a throwaway PostgreSQL database, child processes and their memory, free
// ports, and the description of the machine. It runs on Linux only.
package harness
