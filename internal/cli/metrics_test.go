package cli_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/validate"
)

// hintedCommand finds the `marina …` commands quoted in a message.
var hintedCommand = regexp.MustCompile("`(marina [^`]+)`")

// missingMetrics returns the gate-metric-missing findings validate reports on ref (NAME@VERSION).
func missingMetrics(t *testing.T, dir, ref string) []validate.Finding {
	t.Helper()
	_, out, _ := marina(t, "--repo", dir, "validate", "-o", "json")
	var rep validate.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("validate -o json: %v\n%s", err, out)
	}
	var fs []validate.Finding
	for _, f := range rep.Findings {
		if f.Rule == "gate-metric-missing" && strings.HasPrefix(f.Message, ref+": ") {
			fs = append(fs, f)
		}
	}
	return fs
}

func TestEveryGateHintNamesACommandThatRecordsTheMetric(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		pick     int // which of the hinted commands to run
		evaluate bool
	}{
		{"--metric on the registered version", 0, false},
		{"--evaluate on the registered version", 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.evaluate {
				inferencetest.Lib(t)
			}
			dir := exampleDirWith(t, nil)
			mustMarina(t, "--repo", dir, "model", "register", "iris-classifier", "--version", "1.2.0", "--file", dir+"/"+irisV1)
			mustMarina(t, "--repo", dir, "promote", "iris-classifier@1.2.0", "--env", "staging")
			missing := missingMetrics(t, dir, "iris-classifier@1.2.0")
			if len(missing) == 0 {
				t.Fatal("validate reports no missing metric for a version registered without any")
			}
			for _, f := range missing {
				cmds := hintedCommand.FindAllStringSubmatch(f.Message, -1)
				if len(cmds) != 2 {
					t.Fatalf("want two hinted commands in %q", f.Message)
				}
				line := cmds[c.pick][1]
				metric := "accuracy"
				if strings.Contains(f.Message, "latency_p95_ms") {
					metric = "latency_p95_ms"
				}
				line = strings.NewReplacer("accuracy=VALUE", "accuracy=0.99", "latency_p95_ms=VALUE", "latency_p95_ms=1", "MODEL.onnx", dir+"/"+irisV1).Replace(line)
				before := repotest.Git(t, dir, "rev-list", "--count", "HEAD")
				out := mustMarina(t, append([]string{"--repo", dir}, strings.Fields(line)[1:]...)...)
				if c.evaluate && strings.Contains(out, "nothing to do") { // --evaluate measured both metrics already
					continue
				}
				if !strings.Contains(out, "metric "+metric) {
					t.Errorf("%s printed:\n%s", line, out)
				}
				if after := repotest.Git(t, dir, "rev-list", "--count", "HEAD"); after == before {
					t.Errorf("%s committed nothing", line)
				}
			}
			if still := missingMetrics(t, dir, "iris-classifier@1.2.0"); len(still) > 0 {
				t.Fatalf("after running the hinted commands validate still says %+v", still)
			}
			repotest.Clean(t, dir)
		})
	}
}

func TestRegisterOnARegisteredVersionRecordsMetricsAndLabels(t *testing.T) {
	t.Parallel()
	dir := exampleDirWith(t, nil)
	art := dir + "/" + irisV1
	mustMarina(t, "--repo", dir, "model", "register", "iris-classifier", "--version", "1.2.0", "--file", art, "--metric", "accuracy=0.9")
	cases := []struct {
		name    string
		args    []string
		code    int
		want    string
		commits bool
	}{
		{"a changed metric is recorded", []string{"--metric", "accuracy=0.95"}, 0, "metric accuracy: 0.9 → 0.95", true},
		{"a new label is recorded, with the matching file", []string{"--file", art, "--label", "team=risk"}, 0, "label team: (none) → risk", true},
		{"the same values again do nothing", []string{"--metric", "accuracy=0.95", "--label", "team=risk"}, 0, "nothing to do", false},
		{"another file is refused", []string{"--file", dir + "/models/vision-gpu/artifacts/v1.0.0.onnx", "--metric", "accuracy=1"}, 1, "register it as a new version", false},
		{"another URI is refused", []string{"--uri", "s3://b/x", "--metric", "accuracy=1"}, 1, "register a new version to move it", false},
		{"provenance cannot change", []string{"--git-commit", "abc", "--metric", "accuracy=1"}, 1, "provenance", false},
		{"--evaluate needs --file", []string{"--evaluate"}, 2, "--evaluate needs --file", false},
	}
	for _, c := range cases { // in order: each case starts from the state the previous left
		before := repotest.Git(t, dir, "rev-parse", "HEAD")
		code, out, errOut := marina(t, append([]string{"--repo", dir, "model", "register", "iris-classifier", "--version", "1.2.0"}, c.args...)...)
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Errorf("%s: exit %d (want %d)\n%s%s\nwant %q", c.name, code, c.code, out, errOut, c.want)
		}
		if moved := repotest.Git(t, dir, "rev-parse", "HEAD") != before; moved != c.commits {
			t.Errorf("%s: committed = %v, want %v", c.name, moved, c.commits)
		}
	}
	shown := mustMarina(t, "--repo", dir, "model", "show", "iris-classifier@1.2.0", "-o", "json")
	if !strings.Contains(shown, `"accuracy": 0.95`) || !strings.Contains(shown, `"team": "risk"`) {
		t.Fatalf("show:\n%s", shown)
	}
	if tags := repotest.Git(t, dir, "tag", "--points-at", "HEAD"); tags != "" {
		t.Fatalf("recording metrics tagged the commit: %s", tags)
	}
}
