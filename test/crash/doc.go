// Package crash kills real marina processes in the middle of register and promote and checks that the
// repository is never left in a half state, races concurrent promote --push runs on one remote (these run
// in the e2e tier: go test -tags e2e), and runs every read command against hostile repositories.
package crash
