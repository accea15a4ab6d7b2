package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/sandbox"
	"github.com/marina-dev/marina/internal/testenv"
)

// repoName is the repository's name on the Git server.
const repoName = "ml-platform.git"

// gitRepo copies the model repository, points it at the sandbox — every application's runtime at marina's images
// in the registry, every version pushed there as an OCI artifact, gitops/ and marina.yaml at the Git server —
// renders it, and serves it from a bare repository over HTTP on loopback; the working clone's origin is the server.
func (s *box) gitRepo() {
	tb := s.tb
	src := s.o.Repo
	if src == "" {
		src = filepath.Join(s.o.Source, "examples", "ml-platform")
	}
	root := filepath.Join(s.o.Dir, "git")
	work := filepath.Join(s.o.Dir, "clone")
	for _, d := range []string{root, work} {
		if err := os.RemoveAll(d); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	copyTree(tb, src, work)
	server := repotest.ServeGit(tb, root, repotest.GitAuth{})
	url := server.URL + "/" + repoName
	s.git(work, "init", "-q", "-b", "main")
	s.git(work, "add", "-A")
	s.git(work, "commit", "-qm", "sandbox: a copy of "+src)

	apps, _ := filepath.Glob(filepath.Join(work, "applications", "*", "model.yaml"))
	for _, f := range apps {
		edit(tb, f, func(b string) (string, error) { return pinRuntime(b, s.serve, s.pull) })
		if filepath.Base(filepath.Dir(f)) == sandbox.DemoModel {
			edit(tb, f, func(b string) (string, error) { return closeTheLoop(b, s.pull, s.prom.Address()) })
		}
	}
	edit(tb, filepath.Join(work, "marina.yaml"), func(b string) (string, error) {
		return repositoryURL.ReplaceAllString(b, "${1}"+url), nil
	})
	if repos, _ := filepath.Glob(filepath.Join(work, "gitops", "flux", "gitrepository.yaml")); len(repos) == 1 {
		edit(tb, repos[0], func(b string) (string, error) {
			// Poll every 10 s: a push shows in the cluster within seconds, not a minute.
			return strings.Replace(repositoryURL.ReplaceAllString(b, "${1}"+url), "interval: 1m", "interval: 10s", 1), nil
		})
	}
	s.git(work, "commit", "-qam", "sandbox: runtime images from the sandbox's registry, the repository on its Git server")
	versions, _ := filepath.Glob(filepath.Join(work, "models", "*", "v*.json"))
	for _, v := range versions {
		model := filepath.Base(filepath.Dir(v))
		version := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(v), "v"), ".json")
		s.marina(work, "model", "push", model+"@"+version, "--to", s.reg.Host+"/models/"+model, "--plain-http")
	}
	s.marina(work, "render", "--write")
	s.git(work, "add", "-A")
	if s.git(work, "status", "--porcelain") != "" {
		s.git(work, "commit", "-qm", "sandbox: render")
	}
	bare := filepath.Join(root, repoName)
	s.git(root, "clone", "-q", "--bare", work, bare)
	s.git(bare, "config", "http.receivepack", "true") // anonymous pushes: promote --push from the clone
	s.git(work, "remote", "add", "origin", url)
	s.git(work, "fetch", "-q", "origin")
	s.git(work, "branch", "-q", "--set-upstream-to=origin/main")
	s.state.Git, s.state.Clone = url, work
}

// repositoryURL is the url: line of marina.yaml's spec.repository and of Flux's GitRepository.
var repositoryURL = regexp.MustCompile(`(?m)^(\s+url:\s*)\S+$`)

// runtimeImage is the image: line of model.yaml's spec.runtime, and the artifact: line after it if any.
var runtimeImage = regexp.MustCompile(`(?m)^(  runtime:\n)    image: \S+\n(    artifact: .*\n)?`)

// pinRuntime points model.yaml's runtime at marina-serve's image by digest, its init container pulling the model
// artifact with marina's image over plain HTTP.
func pinRuntime(modelYAML, serve, pull string) (string, error) {
	if !runtimeImage.MatchString(modelYAML) {
		return "", fmt.Errorf("no spec.runtime.image (two-space indented, as marina init writes it) to point at %s", serve)
	}
	return runtimeImage.ReplaceAllLiteralString(modelYAML, fmt.Sprintf(
		"  runtime:\n    image: %s\n    artifact: {pullImage: %s, plainHTTP: true}\n", serve, pull)), nil
}

// backendLine is model.yaml's spec.backend line.
var backendLine = regexp.MustCompile(`(?m)^  backend: \S+\n`)

// stagingVersion is the version line of model.yaml's staging environment.
var stagingVersion = regexp.MustCompile(`(?m)^    staging:\n      version: \S+\n`)

// closeTheLoop puts the model behind marina's loop (what `marina sandbox demo` shows): backend marina with marina
// router (the image router, by digest) in front of the versions; in staging, a new version runs as a shadow whose
// answers the router compares with the live ones, the built-in shadow-agreement analysis measures them on the
// sandbox's Prometheus, and an aborted rollout's revert is committed to the repository by the controller.
func closeTheLoop(modelYAML, router, prometheus string) (string, error) {
	if !backendLine.MatchString(modelYAML) {
		return "", errors.New("no spec.backend (two-space indented, as marina init writes it) to set to marina")
	}
	if !stagingVersion.MatchString(modelYAML) {
		return "", errors.New("no spec.environments.staging.version (indented as marina init writes it) to roll out from")
	}
	out := backendLine.ReplaceAllLiteralString(modelYAML, "  backend: marina\n  router: {image: "+router+"}\n")
	return stagingVersion.ReplaceAllStringFunc(out, func(env string) string {
		return env + `      strategy: {shadow: {percent: 100, duration: 10s}}
      analysis:
        prometheus: {address: "` + prometheus + `"}
        window: 30s
        interval: 5s
        count: 6
        minSamples: 30
        builtin: [{name: shadow-agreement, min: 0.9}]
      writeBack: {mode: commit}
`
	}), nil
}

// edit rewrites a file through fn.
func edit(tb testenv.TB, file string, fn func(string) (string, error)) {
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := fn(string(b))
	if err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// copyTree copies the files of the directory src (not .git) into dst.
func copyTree(tb testenv.TB, src, dst string) {
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		tb.Fatalf("copying the model repository %s: %v", src, err)
	}
}

// identity is who the sandbox's commits are by.
var identity = []string{"GIT_AUTHOR_NAME=marina sandbox", "GIT_AUTHOR_EMAIL=sandbox@marina.dev",
	"GIT_COMMITTER_NAME=marina sandbox", "GIT_COMMITTER_EMAIL=sandbox@marina.dev"}

// git runs git in dir and returns its trimmed output.
func (s *box) git(dir string, args ...string) string {
	return s.run(dir, "git", args...)
}

// marina runs the marina binary in dir, as a user would.
func (s *box) marina(dir string, args ...string) string {
	return s.run(dir, s.o.Marina, args...)
}

func (s *box) run(dir, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), identity...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.tb.Fatalf("%s %s (in %s): %v\n%s", filepath.Base(name), strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// flux starts Flux, applies gitops/flux as the repository's README bootstraps it (kubectl apply -k), and waits
// until every Kustomization has applied the repository's head and every model server Deployment is Ready.
func (s *box) flux() {
	tb := s.tb
	s.c.StartFlux(tb, 2*time.Second)
	ctx := context.Background()
	for _, u := range testenv.Kustomize(tb, filepath.Join(s.state.Clone, "gitops", "flux")) {
		if err := s.c.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("marina-sandbox"), client.ForceOwnership); err != nil {
			tb.Fatalf("applying %s %s from gitops/flux: %v", u.GetKind(), u.GetName(), err)
		}
	}
	head := s.git(s.state.Clone, "rev-parse", "HEAD")
	testenv.WaitUntil(tb, "Flux applies the repository and every model runs", 10*time.Minute, func(ctx context.Context) (bool, string) {
		if ok, why := sandbox.FluxApplied(ctx, s.c.Client, head); !ok {
			return false, why
		}
		return modelsReady(ctx, s.c.Client)
	})
}

// modelsReady reports whether every model server Deployment marina rendered has all its replicas updated and
// Ready, and which one is not otherwise.
func modelsReady(ctx context.Context, c client.Client) (bool, string) {
	var ds appsv1.DeploymentList
	if err := c.List(ctx, &ds, client.MatchingLabels{v1alpha1.LabelManagedBy: v1alpha1.ManagedBy}); err != nil {
		return false, err.Error()
	}
	if len(ds.Items) == 0 {
		return false, "no model Deployment yet"
	}
	for _, d := range ds.Items {
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != want || st.ReadyReplicas != want {
			return false, fmt.Sprintf("Deployment %s/%s: %d/%d updated, %d ready", d.Namespace, d.Name, st.UpdatedReplicas, want, st.ReadyReplicas)
		}
	}
	return true, ""
}
