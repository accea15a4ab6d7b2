package cli_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mattn/go-shellwords"
	"github.com/spf13/cobra"

	"github.com/marina-dev/marina/internal/cli"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/signing/signingtest"
)

// documented is one `marina …` command shown to users, and where.
type documented struct {
	where, line string
}

// docCommands collects the marina commands of every fenced shell block in the Markdown files and of every
// command's Example text, with backslash continuations joined.
func docCommands(t *testing.T) []documented {
	t.Helper()
	var out []documented
	add := func(where, text string, inBlock func(line string) (bool, bool)) {
		var joined string
		sc := bufio.NewScanner(strings.NewReader(text))
		in := inBlock == nil
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if inBlock != nil {
				if toggled, open := inBlock(line); toggled {
					in = open
					continue
				}
			}
			if !in {
				continue
			}
			if joined != "" {
				line = joined + " " + line
				joined = ""
			}
			if strings.HasSuffix(line, "\\") {
				joined = strings.TrimSuffix(line, "\\")
				continue
			}
			if strings.HasPrefix(line, "marina ") {
				out = append(out, documented{where, line})
			}
		}
	}
	files := []string{"../../README.md", "../../examples/ml-platform/README.md"}
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := filepath.Glob("../../docs/spec/*/*.md")
	for _, f := range append(append(files, docs...), spec...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fence := func(line string) (bool, bool) {
			switch {
			case line == "```":
				return true, false
			case line == "```sh" || line == "```bash" || line == "```shell" || line == "```console":
				return true, true
			}
			return false, false
		}
		add(strings.TrimPrefix(f, "../../"), string(b), fence)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add(c.CommandPath()+" --help", c.Example, nil)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(cli.NewRootCommand(nil, nil, nil))
	return out
}

// notRun are documented commands this test cannot run here, each with the reason.
var notRun = map[string]string{
	"marina controller":        "runs until stopped, against a cluster",
	"marina doctor":            "needs a cluster",
	"marina router":            "runs until stopped",
	"marina sandbox":           "needs root and brings a cluster up; test/sandbox runs the sandbox's --help tour",
	"marina serve":             "runs until stopped",
	"marina ui":                "runs until stopped; ui_test.go runs it",
	"marina validate --server": "needs a cluster",
	"marina promote fraud-detector --env prod --resume":   "needs a cluster with marina controller",
	"marina promote fraud-detector@1.1.0 --env prod --pr": "needs a forge; test/e2e/promote_pr_test.go runs it against a real Gitea",
	"marina ci --base origin/main --post-status":          "needs a forge; test/e2e/ci_status_test.go runs it against a real Gitea",
	"marina status --cluster":                             "needs a cluster",
	"marina status --context":                             "needs a cluster",
	"marina status iris-classifier --context":             "needs a cluster",
	"marina runtime install":                              "downloads ONNX Runtime (113 MB) from the npm registry; internal/inference's installer tests install from a tarball",
	"marina model push":                                   "pushes to the example's registry.example.com; artifact_test.go pushes to a real registry on loopback",
	"marina model pull":                                   "pulls from registry.example.com; artifact_test.go pulls from a real registry on loopback",
	"marina image":                                        "signs and verifies in registry.example.com; image_test.go does in a real registry on loopback",
	"marina model register fraud-detector --file model.onnx --version 1.1.0": "pushes to registry.example.com; artifact_test.go runs register --push against a real registry",
}

// needsOnnxRuntime are the commands that run a model.
var needsOnnxRuntime = []string{"marina model check", "--evaluate"}

// docEnv are the CI variables the documented CI commands use.
var docEnv = map[string]string{
	"GITHUB_BASE_REF": "main", "GITHUB_STEP_SUMMARY": "summary.md", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
	"REF": "fraud-detector@1.2.0", "IMAGE": "ghcr.io/acme/models/fraud-detector",
	"DIGEST": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
}

// docRepository is the scratch repository the documented commands run in: the example, plus a model
// fraud-detector (the name the docs use) registered at 1.0.0, 1.1.0 and 1.2.0, 1.1.0 deployed in staging and
// prod after 1.0.0, the files the commands name, and a bare remote origin.
func docRepository(t *testing.T) string {
	t.Helper()
	iris := readExample(t, irisV1)
	// backend marina: the docs promote with --strategy canary
	app := strings.NewReplacer("iris-classifier", "fraud-detector", "backend: plain", "backend: marina").Replace(readExample(t, "applications/iris-classifier/model.yaml"))
	dir := repotest.Example(t, map[string]string{
		"applications/fraud-detector/model.yaml":  app,
		"applications/fraud-detector/config.yaml": readExample(t, "applications/iris-classifier/config.yaml"),
		"model.onnx": iris, "downloaded.onnx": iris, "v1.1.0.onnx": iris, "weights.bin": "weights of a large model",
	})
	if err := os.CopyFS(filepath.Join(dir, "crds", "kserve"), os.DirFS("../../third_party/kserve")); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "fd.onnx")
	writeIrisModel(t, f)
	good := []string{"--metric", "accuracy=0.97", "--metric", "latency_p95_ms=10"}
	for v, file := range map[string]string{"1.0.0": filepath.Join(dir, "model.onnx"), "1.1.0": f + "1.0.0", "1.2.0": f + "1.1.0"} {
		args := []string{"--repo", dir, "model", "register", "fraud-detector", "--version", v, "--file", file}
		if v != "1.0.0" { // 1.0.0 from the repository's model.onnx, as docs/getting-started.md registers it
			args = append(args, "--uri", "s3://models/fraud-detector/"+v)
		}
		mustMarina(t, append(args, good...)...)
	}
	mustMarina(t, append([]string{"--repo", dir, "model", "register", "iris-classifier", "--version", "1.1.0", "--file", filepath.Join(dir, "v1.1.0.onnx")}, good...)...)
	// model sign's examples: a key pair, and the artifact of 1.2.0, whose uri is remote
	private, public := signingtest.KeyPair(t, signingtest.ECDSA)
	for from, to := range map[string]string{private: "marina.key", public: "marina.pub", f + "1.1.0": "fraud-detector.onnx"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		repotest.WriteFile(t, dir, to, string(b))
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		for _, env := range []string{"staging", "prod"} {
			mustMarina(t, "--repo", dir, "promote", "fraud-detector@"+v, "--env", env)
		}
	}
	remote := filepath.Join(t.TempDir(), "origin.git")
	repotest.Git(t, filepath.Dir(remote), "init", "-q", "--bare", remote)
	repotest.Git(t, dir, "remote", "add", "origin", remote)
	repotest.Git(t, dir, "push", "-q", "origin", "HEAD:main")
	repotest.Git(t, dir, "fetch", "-q", "origin")
	return dir
}

// TestEveryDocumentedCommandRuns runs each marina command of README.md, docs/ and the --help examples in a
// fresh copy of a scratch repository, so the docs cannot name a flag, a format or an argument the binary lacks.
func TestEveryDocumentedCommandRuns(t *testing.T) {
	// not parallel: each command runs in its repository as working directory, as the docs show it
	template := docRepository(t)
	for _, d := range docCommands(t) {
		t.Run(d.where+": "+d.line, func(t *testing.T) {
			p := shellwords.NewParser()
			p.ParseEnv = true
			p.Getenv = func(k string) string { return docEnv[k] }
			line, _, _ := strings.Cut(d.line, " #") // a shell comment may hold what the parser cannot split, an apostrophe
			args, err := p.Parse(line)              // stops at a pipe, &&, ; or a redirection
			if err != nil {
				t.Fatalf("cannot split %q: %v", d.line, err)
			}
			for prefix, reason := range notRun {
				if strings.HasPrefix(d.line, prefix) {
					// still: the command exists and takes these flags and arguments
					c, rest, err := cli.NewRootCommand(nil, nil, nil).Find(args[1:])
					if err == nil {
						err = c.ParseFlags(rest)
					}
					if err == nil {
						err = c.ValidateArgs(c.Flags().Args())
					}
					if err != nil {
						t.Fatalf("%s: %v", d.line, err)
					}
					t.Logf("flags and arguments checked, not run: %s", reason)
					return
				}
			}
			for _, s := range needsOnnxRuntime {
				if strings.Contains(d.line, s) {
					inferencetest.Lib(t)
				}
			}
			dir := filepath.Join(t.TempDir(), "repo")
			if args[1] == "init" {
				dir = t.TempDir() // init makes its repository
			} else if out, err := exec.Command("cp", "-a", template, dir).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
			t.Chdir(dir)
			if code, out, errOut := marina(t, args[1:]...); code != 0 {
				t.Fatalf("%s: exit %d\n%s%s", d.line, code, out, errOut)
			}
		})
	}
}
