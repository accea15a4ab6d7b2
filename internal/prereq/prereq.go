package prereq

import (
	"os"
	"testing"
)

// RequireEnv is the environment variable that turns a missing prerequisite into a failure outside CI.
const RequireEnv = "MARINA_REQUIRE_ASSETS"

// Required reports whether this run must have every prerequisite: CI=true or MARINA_REQUIRE_ASSETS=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv(RequireEnv) == "1"
}

// Missing ends the test because a prerequisite is missing: msg says what and how to get it. It fails the test when
// Required, and skips it otherwise.
func Missing(tb testing.TB, msg string) {
	tb.Helper()
	if Required() {
		tb.Fatal(msg + " (" + RequireEnv + "=1 or CI=true: a missing prerequisite fails instead of skipping)")
	}
	tb.Skip(msg)
}
