package project_test

import (
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/project"
)

// withWriteBack is app with a backend marina, writeBack shared at spec level and, unless prod is empty, prod's own.
func withWriteBack(shared, prod string) string {
	a := strings.Replace(app, "  model: fraud\n", "  model: fraud\n  backend: marina\n  writeBack: "+shared+"\n", 1)
	if prod != "" {
		a = strings.Replace(a, "prod: {version: 1.0.0,", "prod: {version: 1.0.0, writeBack: "+prod+",", 1)
	}
	return a
}

func TestAnEnvironmentReplacesTheSharedWriteBackAsAWhole(t *testing.T) {
	t.Parallel()
	a, _, err := project.ParseApplication("applications/fraud/model.yaml", []byte(withWriteBack("{secretRef: git-credentials}", "{mode: pr}")))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ env, secret, mode string }{
		{"staging", "git-credentials", ""},
		// prod's writeBack replaces the shared one, as router and analysis do: no secretRef is inherited.
		{"prod", "", project.WriteBackPullRequest},
	} {
		e, _ := a.Spec.Resolve(tc.env)
		if e.WriteBack == nil || e.WriteBack.SecretRef != tc.secret || e.WriteBack.Mode != tc.mode {
			t.Errorf("%s: writeBack %+v, want secretRef %q and mode %q", tc.env, e.WriteBack, tc.secret, tc.mode)
		}
	}
	a, _, err = project.ParseApplication("applications/fraud/model.yaml", []byte(app))
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := a.Spec.Resolve("prod"); e.WriteBack != nil {
		t.Errorf("a model.yaml without writeBack resolved to %+v", e.WriteBack)
	}
}

func TestAWriteBackIsCheckedWithItsFieldPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, shared, prod, want string
	}{
		{"a Secret name Kubernetes refuses", "{secretRef: Git_Credentials}", "", "spec.writeBack.secretRef: 'Git_Credentials' does not match pattern"},
		{"a Secret name too long", "{secretRef: " + strings.Repeat("a", 254) + "}", "", "spec.writeBack.secretRef: maxLength: got 254, want 253"},
		{"an unknown mode", "{mode: merge}", "", "spec.writeBack.mode: value must be one of 'commit', 'pr'"},
		{"an unknown mode in an environment", "{}", "{mode: push}", "spec.environments.prod.writeBack.mode: value must be one of 'commit', 'pr'"},
		{"the repository, which marina.yaml names", "{repo: https://git.example.com/x.git}", "", "spec.writeBack.repo: unknown field"},
		{"a secretRef written as the ModelDeployment's", "{secretRef: {name: git-credentials}}", "", "spec.writeBack.secretRef: got object, want string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantRefused(t, withWriteBack(tc.shared, tc.prod), tc.want)
		})
	}
}
