package cli_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
)

// registered reads models/iris-classifier/v1.0.0.json from the work tree.
func registered(t *testing.T, dir string) model.Version {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "models", "iris-classifier", "v1.0.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v model.Version
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// predict posts the KServe v1 instances to a served iris model and returns its predictions.
func predict(t *testing.T, base, name string) []any {
	t.Helper()
	code, resp := post(t, base+"/v1/models/"+name+":predict", `{"instances":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3],[5.9,3.0,4.2,1.5]]}`)
	if code != 200 {
		t.Fatalf("predict on %s: %d %v", base, code, resp)
	}
	return resp["predictions"].([]any)
}

// files lists a directory's entries ("" when it does not exist).
func files(t *testing.T, dir string) string {
	t.Helper()
	des, _ := os.ReadDir(dir)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return strings.Join(names, " ")
}

func TestModelPushRecordsTheArtifactAndServingItFromTheRegistryAnswersLikeTheFile(t *testing.T) {
	inferencetest.Lib(t)
	dir := serveRepo(t, false)
	r := testenv.StartRegistry(t, testenv.RegistryOptions{})
	before := registered(t, dir)
	commits := repotest.Git(t, dir, "rev-list", "--count", "HEAD")

	out := mustMarina(t, "--repo", dir, "model", "push", "iris-classifier@1.0.0", "--to", r.Host+"/models/iris", "--plain-http")
	v := registered(t, dir)
	if !strings.HasPrefix(v.Artifact.URI, "oci://"+r.Host+"/models/iris@sha256:") || v.Artifact.File != "v1.0.0.onnx" ||
		v.Artifact.Digest != before.Artifact.Digest || v.Artifact.Size != before.Artifact.Size || !strings.Contains(out, v.Artifact.URI) {
		t.Fatalf("after push, artifact = %+v (was %+v); output:\n%s", v.Artifact, before.Artifact, out)
	}
	if got, _ := strconv.Atoi(repotest.Git(t, dir, "rev-list", "--count", "HEAD")); fmt.Sprint(got-1) != commits {
		t.Fatalf("push made %d commits in all, want one more than %s", got, commits)
	}
	if status := repotest.Git(t, dir, "status", "--porcelain"); status != "" {
		t.Fatalf("push left the work tree dirty:\n%s", status)
	}
	if out := mustMarina(t, "--repo", dir, "model", "push", "iris-classifier@1.0.0", "--plain-http"); !strings.Contains(out, "nothing to do") {
		t.Fatalf("pushing again: %s", out)
	}

	pulled := t.TempDir()
	mustMarina(t, "--repo", dir, "model", "pull", "iris-classifier@1.0.0", "--dir", pulled, "--plain-http")
	want, _ := os.ReadFile(filepath.Join(dir, "models", "iris-classifier", "artifacts", "v1.0.0.onnx"))
	if got, err := os.ReadFile(filepath.Join(pulled, "v1.0.0.onnx")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("pulled file differs (%v); %s holds %s", err, pulled, files(t, pulled))
	}

	local := startServe(t, "--model", filepath.Join(dir, "models", "iris-classifier", "artifacts", "v1.0.0.onnx"), "--name", "iris-classifier")
	modelDir := filepath.Join(t.TempDir(), "models")
	remote := startServe(t, "--model", v.Artifact.URI, "--model-dir", modelDir, "--plain-http")
	registeredRemote := startServe(t, "--repo", dir, "--model", "iris-classifier@1.0.0", "--model-dir", t.TempDir(), "--plain-http")
	https := httptest.NewTLSServer(http.FileServer(http.Dir(filepath.Join(dir, "models", "iris-classifier", "artifacts"))))
	t.Cleanup(https.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, ca, https.TLS)
	downloaded := startServe(t, "--model", https.URL+"/v1.0.0.onnx", "--digest", v.Artifact.Digest, "--ca-file", ca,
		"--model-dir", t.TempDir(), "--name", "iris-classifier")
	wantPred := predict(t, local, "iris-classifier")
	for _, base := range []string{remote, registeredRemote, downloaded} {
		if got := predict(t, base, "iris-classifier"); !reflect.DeepEqual(got, wantPred) {
			t.Fatalf("served from the registry: %v, from the file: %v", got, wantPred)
		}
	}
	if got := files(t, modelDir); got != "v1.0.0.onnx" {
		t.Fatalf("--model-dir holds %q, want the model file only", got)
	}
}

func TestRegisterPushRecordsTheOCIArtifactInTheRegisterCommit(t *testing.T) {
	dir := repotest.Dir(t, map[string]string{})
	r := testenv.StartRegistry(t, testenv.RegistryOptions{TLS: true})
	file := filepath.Join(t.TempDir(), "model-")
	writeIrisModel(t, file)
	out := mustMarina(t, "--repo", dir, "model", "register", "iris-classifier", "--file", file+"1.0.0", "--version", "1.0.0",
		"--push", "--to", r.Host+"/models/iris", "--ca-file", r.CAFile)
	v := registered(t, dir)
	d, _, err := model.DigestFile(file + "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.Artifact.URI, "oci://"+r.Host+"/models/iris@sha256:") || v.Artifact.File != "model-1.0.0" || v.Artifact.Digest != d {
		t.Fatalf("registered %+v; output:\n%s", v.Artifact, out)
	}
	if n := repotest.Git(t, dir, "rev-list", "--count", "HEAD"); n != "2" {
		t.Fatalf("%s commits, want the initial one and the register commit", n)
	}
	if tags := repotest.Git(t, dir, "tag", "--points-at", "HEAD"); !strings.Contains(tags, "iris-classifier@v1.0.0") {
		t.Fatalf("register commit tags: %q", tags)
	}
	pulled := t.TempDir()
	mustMarina(t, "model", "pull", v.Artifact.URI, "--dir", pulled, "--ca-file", r.CAFile)
	if got, _, err := model.DigestFile(filepath.Join(pulled, "model-1.0.0")); err != nil || got != d {
		t.Fatalf("pulled %s: %v", got, err)
	}
}

// TestRegistryCredentialsComeFromTheDockerConfig sets DOCKER_CONFIG: not parallel.
func TestRegistryCredentialsComeFromTheDockerConfig(t *testing.T) {
	dir := serveRepo(t, false)
	r := testenv.StartRegistry(t, testenv.RegistryOptions{TLS: true, BasicAuth: true})
	config := func(password string) { dockerLogin(t, r, password) }
	push := []string{"--repo", dir, "model", "push", "iris-classifier@1.0.0", "--to", r.Host + "/models/iris", "--ca-file", r.CAFile}
	config(r.Password + "x")
	code, out, errOut := marina(t, push...)
	if code != 2 || !strings.Contains(errOut, "docker login "+r.Host) || strings.Contains(errOut+out, r.Password) {
		t.Fatalf("wrong password: exit %d\n%s%s", code, out, errOut)
	}
	if v := registered(t, dir); strings.HasPrefix(v.Artifact.URI, "oci://") {
		t.Fatalf("a refused push recorded %s", v.Artifact.URI)
	}
	config(r.Password)
	mustMarina(t, push...)
	if v := registered(t, dir); !strings.HasPrefix(v.Artifact.URI, "oci://"+r.Host) {
		t.Fatalf("recorded %s", v.Artifact.URI)
	}
}

func TestPullAndServeRefuseClearlyAndLeaveNoFile(t *testing.T) {
	dir := serveRepo(t, false)
	r := testenv.StartRegistry(t, testenv.RegistryOptions{})
	mustMarina(t, "--repo", dir, "model", "push", "iris-classifier@1.0.0", "--to", r.Host+"/models/iris", "--plain-http")
	v := registered(t, dir)
	other := "sha256:" + strings.Repeat("ab", 32)
	missing := v.Artifact.URI[:strings.Index(v.Artifact.URI, "@")] + "@" + other
	https := httptest.NewTLSServer(http.FileServer(http.Dir(filepath.Join(dir, "models", "iris-classifier", "artifacts"))))
	t.Cleanup(https.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, ca, https.TLS)
	down := testenv.StartRegistry(t, testenv.RegistryOptions{})
	down.Stop()

	for _, tc := range []struct {
		name string
		args []string
		code int
		says []string
	}{
		{name: "serve: the artifact's model file is not --digest", code: 1,
			args: []string{"serve", "--model", v.Artifact.URI, "--digest", other, "--plain-http"}, says: []string{v.Artifact.Digest, other}},
		{name: "serve: an https download with another digest", code: 1,
			args: []string{"serve", "--model", https.URL + "/v1.0.0.onnx", "--digest", other, "--ca-file", ca}, says: []string{v.Artifact.Digest, other}},
		{name: "serve: https without --digest", code: 2, args: []string{"serve", "--model", https.URL + "/v1.0.0.onnx"}, says: []string{"--digest"}},
		{name: "pull: no such artifact", code: 2, args: []string{"model", "pull", missing, "--plain-http"}, says: []string{"no such artifact", "marina model push"}},
		{name: "pull: the registry is down", code: 2, args: []string{"model", "pull", "oci://" + down.Host + "/models/iris@" + other, "--plain-http"},
			says: []string{down.Host, "connection refused"}},
		{name: "pull: a tag instead of a digest", code: 2, args: []string{"model", "pull", "oci://" + r.Host + "/models/iris:1.0.0"}, says: []string{"pin the artifact by digest"}},
		{name: "pull: a version not in a registry", code: 2, args: []string{"--repo", serveRepo(t, false), "model", "pull", "iris-classifier@1.0.0"},
			says: []string{"marina model push iris-classifier@1.0.0 --to"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "models")
			flag := "--dir"
			if tc.args[0] == "serve" {
				flag = "--model-dir"
			}
			code, out, errOut := marina(t, append(tc.args, flag, target)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, s := range tc.says {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr does not say %q:\n%s", s, errOut)
				}
			}
			if got := files(t, target); got != "" {
				t.Fatalf("a refused fetch left %q in %s", got, target)
			}
		})
	}
}

// writePEM writes the certificate an httptest TLS server presents, for --ca-file.
func writePEM(t *testing.T, file string, c *tls.Config) {
	t.Helper()
	var b bytes.Buffer
	for _, cert := range c.Certificates {
		for _, der := range cert.Certificate {
			_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
	}
	if err := os.WriteFile(file, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestServingABlockedVersionFromTheRegistryWarnsAsFromTheRepository(t *testing.T) {
	inferencetest.Lib(t)
	dir := serveRepo(t, false)
	r := testenv.StartRegistry(t, testenv.RegistryOptions{})
	mustMarina(t, "--repo", dir, "model", "push", "iris-classifier@1.0.0", "--to", r.Host+"/models/iris", "--plain-http")
	blockByHand(t, dir, "drift")
	_, errOut := startServeLogging(t, "--repo", dir, "--model", "iris-classifier@1.0.0", "--model-dir", t.TempDir(), "--plain-http", "-v")
	if !strings.Contains(errOut.String(), `msg="serving a blocked version" model=iris-classifier version=1.0.0 reason=drift`) {
		t.Fatalf("no warning:\n%s", errOut.String())
	}
}
