package validate_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/validate"
	"github.com/marina-dev/marina/schemas"
)

func TestCheckPromotionFindsWhatValidateWouldRejectAfterTheCommit(t *testing.T) {
	t.Parallel()
	var proj project.Project
	if err := schemas.Decode(schemas.Project, "marina.yaml", []byte(projectYAML), &proj); err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{
		"1.0.0": versionJSON("1.0.0", "active", ""),
		"1.1.0": versionJSON("1.1.0", "registered", ""),
		"0.9.0": strings.Replace(versionJSON("0.9.0", "registered", ""), `"accuracy": 0.95`, `"accuracy": 0.85`, 1),
	}
	lookup := func(name, version string) (*model.Version, error) {
		src, ok := versions[version]
		if !ok {
			return nil, fmt.Errorf("%s@%s is not registered", name, version)
		}
		return model.Parse(model.File(name, version), []byte(src))
	}
	cases := []struct {
		name string
		env  string
		app  func(string) string
		want []string // rule ids, sorted
	}{
		{"a state validate accepts", "prod", func(s string) string { return s }, nil},
		{"limits missing where prod requires them", "prod",
			func(s string) string { return strings.Replace(s, "    limits: {cpu: \"1\", memory: 256Mi}\n", "", 1) }, []string{"policy-limits"}},
		{"an image not pinned by digest", "prod",
			func(s string) string {
				return strings.Replace(s, "registry.example.com/serve@sha256:0000000000000000000000000000000000000000000000000000000000000000", "registry.example.com/serve:1.0", 1)
			}, []string{"policy-digest"}},
		{"staging has no such policy", "staging",
			func(s string) string { return strings.Replace(s, "    limits: {cpu: \"1\", memory: 256Mi}\n", "", 1) }, nil},
		{"a version below the accuracy gate", "staging",
			func(s string) string { return strings.Replace(s, "version: 1.1.0", "version: 0.9.0", 1) }, []string{"gate-accuracy", "gate-accuracy"}}, // min and regression
		{"a canary the plain backend would ignore", "staging",
			func(s string) string {
				return strings.Replace(s, "      version: 1.1.0\n", "      version: 1.1.0\n      strategy: {canary: {steps: [{setWeight: 20}]}}\n", 1)
			}, []string{"strategy-backend"}},
		{"a shadow's analysis step naming a template that is not on", "staging",
			func(s string) string {
				s = strings.Replace(s, "  backend: plain\n", "  backend: marina\n", 1)
				return strings.Replace(s, "      version: 1.1.0\n", "      version: 1.1.0\n      strategy: {shadow: {percent: 10, steps: [{analysis: {template: error-rate}}]}}\n", 1)
			}, []string{"strategy-analysis-template"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			problems := validate.CheckPromotion(release.Prospect{Project: &proj, AppFile: "applications/m/model.yaml", AppData: []byte(c.app(appYAML)), Env: c.env, Lookup: lookup})
			var got []string
			for _, p := range problems {
				got = append(got, p.Rule)
				if !strings.HasPrefix(p.Text, "applications/m/model.yaml:") || !strings.Contains(p.Text, "hint: ") {
					t.Errorf("problem %q does not name the file, line and fix", p.Text)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Fatalf("rules %v, want %v:\n%v", got, c.want, problems)
			}
		})
	}
}
