package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// twoEnvsOn11 is a repository made by marina init where iris 1.1.0 runs in staging and prod (1.0.0 before it).
func twoEnvsOn11(t *testing.T) string {
	t.Helper()
	dir, f := initIris(t, "--repo-url", "https://git.example.com/ml.git")
	for _, v := range []string{"1.0.0", "1.1.0"} {
		mustMarina(t, "--repo", dir, "model", "register", "iris", "--file", f+v, "--uri", "s3://models/iris/"+v, "--version", v)
		mustMarina(t, "--repo", dir, "promote", "iris@"+v, "--env", "staging")
		mustMarina(t, "--repo", dir, "promote", "iris@"+v, "--env", "prod", "--force")
	}
	return dir
}

func TestRollbackNamesTheEnvironmentsThatStillRunTheBlockedVersion(t *testing.T) {
	t.Parallel()
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		dir := twoEnvsOn11(t)
		out := mustMarina(t, "--repo", dir, "rollback", "iris", "--env", "prod")
		if !strings.Contains(out, "iris@1.1.0 is now blocked but still deployed in staging") || !strings.Contains(out, "marina rollback iris --env staging") {
			t.Fatalf("rollback output:\n%s", out)
		}
		// once staging is rolled back too, nothing is left to mention
		if out := mustMarina(t, "--repo", dir, "rollback", "iris", "--env", "staging"); strings.Contains(out, "still deployed") {
			t.Fatalf("second rollback output:\n%s", out)
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		dir := twoEnvsOn11(t)
		var res struct {
			From, To     string
			StillRunning []string
		}
		if err := json.Unmarshal([]byte(mustMarina(t, "--repo", dir, "rollback", "iris", "--env", "staging", "-o", "json")), &res); err != nil {
			t.Fatal(err)
		}
		if res.From != "1.1.0" || res.To != "1.0.0" || len(res.StillRunning) != 1 || res.StillRunning[0] != "prod" {
			t.Fatalf("rollback -o json: %+v", res)
		}
	})
}
