package prereq

import "os"

// RequireEnv is the environment variable that turns a missing prerequisite into a failure outside CI.
const RequireEnv = "MARINA_REQUIRE_ASSETS"

// Required reports whether this run must have every prerequisite: CI=true or MARINA_REQUIRE_ASSETS=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv(RequireEnv) == "1"
}

// TB is what Missing needs of its caller: testing.TB satisfies it, and so does anything else that runs test
// helpers (internal/testenv.TB).
type TB interface {
	Helper()
	Fatal(args ...any)
	Skip(args ...any)
}

// Missing ends the test because a prerequisite is missing: msg says what and how to get it. It fails the test when
// Required, and skips it otherwise.
func Missing(tb TB, msg string) {
	tb.Helper()
	if Required() {
		tb.Fatal(msg + " (" + RequireEnv + "=1 or CI=true: a missing prerequisite fails instead of skipping)")
	}
	tb.Skip(msg)
}
