package scaffold_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v3"

	"github.com/marina-dev/marina/internal/scaffold"
	"github.com/marina-dev/marina/schemas"
)

// fileOf returns the generated file at p, failing the test when it is missing.
func fileOf(t *testing.T, files []scaffold.File, p string) scaffold.File {
	t.Helper()
	for _, f := range files {
		if f.Path == p {
			return f
		}
	}
	t.Fatalf("%s was not generated", p)
	return scaffold.File{}
}

// eachCIFile runs check, in a parallel subtest per combination of options whose --ci is ci or both, on the file
// at p that the combination generates.
func eachCIFile(t *testing.T, ci, p string, check func(t *testing.T, f scaffold.File)) {
	t.Helper()
	for _, c := range combinations() {
		if c.opts.CI != ci && c.opts.CI != scaffold.CIBoth {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			check(t, fileOf(t, mustFiles(t, c.opts), p))
		})
	}
}

func TestGitHubWorkflowPassesActionlint(t *testing.T) {
	t.Parallel()
	eachCIFile(t, scaffold.CIGitHub, ".github/workflows/marina.yaml", func(t *testing.T, f scaffold.File) {
		var out bytes.Buffer
		// Shellcheck and pyflakes stay off: they are external programs, not part of this check.
		l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{Shellcheck: "", Pyflakes: "", WorkingDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		errs, err := l.Lint(f.Path, f.Data, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			t.Errorf("%s:%d:%d: %s [%s]", f.Path, e.Line, e.Column, e.Message, e.Kind)
		}
		// The linter is live: a misspelt input of a known action is caught.
		broken := bytes.Replace(f.Data, []byte("fetch-depth: 0"), []byte("fetch-deepth: 0"), 1)
		if errs, err := l.Lint(f.Path, broken, nil); err != nil || len(errs) == 0 {
			t.Errorf("actionlint accepted a misspelt input (%v)", err)
		}
	})
}

func TestGitHubWorkflowRunsMarinaCIThenBuildsScansSignsAndRecordsOnTheBranchOnly(t *testing.T) {
	t.Parallel()
	f := fileOf(t, mustFiles(t, scaffold.Options{Name: "ml-platform", Branch: "trunk"}), ".github/workflows/marina.yaml")
	var wf struct {
		Jobs map[string]struct {
			If    string `yaml:"if"`
			Steps []struct {
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(f.Data, &wf); err != nil {
		t.Fatal(err)
	}
	steps := func(job string) string {
		var b strings.Builder
		for _, s := range wf.Jobs[job].Steps {
			b.WriteString(s.Uses + " " + s.Run + "\n")
		}
		return b.String()
	}
	check := steps("check")
	for _, want := range []string{"marina ci", "--markdown \"$GITHUB_STEP_SUMMARY\"", "--sarif marina.sarif", "github/codeql-action/upload-sarif@v", "fetch-depth"} {
		if !strings.Contains(check+string(f.Data), want) {
			t.Errorf("check job lacks %q", want)
		}
	}
	image := steps("image")
	order := []string{"docker/setup-buildx-action@v", "docker/build-push-action@v", "aquasecurity/trivy-action@", "sigstore/cosign-installer@v", "cosign sign --yes", "marina model set-image"}
	last := -1
	for _, want := range order {
		i := strings.Index(image, want)
		if i <= last {
			t.Errorf("image job: %q missing or out of order", want)
		}
		last = i
	}
	if j := wf.Jobs["image"]; !strings.Contains(j.If, "github.event_name == 'push'") {
		t.Errorf("image job runs on %q, want pushes only", j.If)
	}
	if !strings.Contains(string(f.Data), "      - trunk\n") {
		t.Error("the workflow does not follow --branch")
	}
	if !strings.Contains(string(f.Data), "format: cyclonedx") || !strings.Contains(string(f.Data), "severity: CRITICAL") || !strings.Contains(string(f.Data), `exit-code: "1"`) {
		t.Error("trivy does not write a CycloneDX SBOM and fail on CRITICAL")
	}
}

func TestGitLabCIParsesAndEveryJobHasAScript(t *testing.T) {
	t.Parallel()
	eachCIFile(t, scaffold.CIGitLab, ".gitlab-ci.yml", func(t *testing.T, f scaffold.File) {
		var doc map[string]any
		if err := yaml.Unmarshal(f.Data, &doc); err != nil {
			t.Fatal(err)
		}
		stages, _ := doc["stages"].([]any)
		inStages := map[string]bool{}
		for _, s := range stages {
			inStages[s.(string)] = true
		}
		reserved := map[string]bool{"stages": true, "variables": true, "default": true, "workflow": true, "include": true}
		jobs := map[string]map[string]any{}
		for name, v := range doc {
			if reserved[name] || strings.HasPrefix(name, ".") {
				continue
			}
			job, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%s is not a job mapping", name)
			}
			jobs[name] = job
			script, ok := job["script"].([]any)
			if !ok || len(script) == 0 {
				t.Errorf("job %s has no script", name)
			}
			if !inStages[job["stage"].(string)] {
				t.Errorf("job %s: stage %v is not in stages", name, job["stage"])
			}
		}
		for job, want := range map[string]string{
			"marina": "marina ci", "build": "buildctl-daemonless.sh build", "scan": "--format cyclonedx",
			"sign": "cosign sign --yes", "record": "marina model set-image",
		} {
			if !strings.Contains(toYAML(t, jobs[job]), want) {
				t.Errorf("job %s does not run %q", job, want)
			}
		}
		if img := toYAML(t, jobs["build"]["image"]); !strings.Contains(img, "moby/buildkit:rootless") {
			t.Errorf("build image %s", img)
		}
		if !strings.Contains(toYAML(t, jobs["sign"]), "aud: sigstore") {
			t.Error("sign has no Sigstore OIDC token")
		}
	})
}

func TestPipelineMatchesItsSchemaAndListsTheCIStagesInOrder(t *testing.T) {
	t.Parallel()
	f := fileOf(t, mustFiles(t, scaffold.Options{Name: "ml-platform"}), "ci/pipeline.yaml")
	var p map[string]any
	if err := schemas.Decode(schemas.Pipeline, f.Path, f.Data, &p); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range p["spec"].(map[string]any)["stages"].([]any) {
		s := v.(map[string]any)
		name := s["name"].(string)
		names = append(names, name)
		branches, _ := s["branches"].([]any)
		onBranch := len(branches) == 1 && branches[0] == "main"
		if onBranch != (name == "build" || name == "scan" || name == "sign" || name == "record") {
			t.Errorf("stage %s: branches %v", name, branches)
		}
	}
	if got := strings.Join(names, ","); got != "validate,check,render,build,scan,sign,record" {
		t.Fatalf("stages %s", got)
	}
}

func toYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
