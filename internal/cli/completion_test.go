package cli_test

import (
	"strings"
	"testing"
)

func TestShellCompletionOffersModelsVersionsAndEnvironments(t *testing.T) {
	t.Parallel()
	dir := exampleDirWith(t, nil)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"model names for history", []string{"history", ""}, []string{"iris-classifier", "vision-gpu"}},
		{"model names by prefix", []string{"model", "list", "vi"}, []string{"vision-gpu"}},
		{"NAME@ for promote", []string{"promote", "ir"}, []string{"iris-classifier@"}},
		{"versions after NAME@", []string{"model", "show", "iris-classifier@"}, []string{"iris-classifier@1.0.0"}},
		{"environments for --env", []string{"promote", "iris-classifier@1.0.0", "--env", ""}, []string{"staging", "prod"}},
		{"versions for rollback --to", []string{"rollback", "iris-classifier", "--to", ""}, []string{"1.0.0"}},
		{"models for render --model", []string{"render", "--model", ""}, []string{"iris-classifier", "vision-gpu"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := mustMarina(t, append([]string{"--repo", dir, "__complete"}, c.args...)...)
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if !strings.HasPrefix(l, ":") {
					got = append(got, l)
				}
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Fatalf("completions %q, want %q\n%s", got, c.want, out)
			}
		})
	}
	// outside a repository completion offers nothing, and does not fail
	if out := mustMarina(t, "--repo", t.TempDir(), "__complete", "history", ""); strings.TrimSpace(out) != ":4" {
		t.Fatalf("outside a repository: %q", out)
	}
}
