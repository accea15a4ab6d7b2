package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/signing"
	"github.com/marina-dev/marina/internal/signing/signingtest"
	"github.com/marina-dev/marina/internal/testenv"
)

// signatureAttached reports whether the artifact at uri carries bundle as a referrer.
func signatureAttached(t *testing.T, o oci.Options, uri string, bundle []byte) bool {
	t.Helper()
	ref, err := oci.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := oci.Signatures(t.Context(), o, ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sigs {
		if string(s.Bundle) == string(bundle) {
			return true
		}
	}
	return false
}

func TestAModelSignatureIsAttachedToItsArtifactWhetherSignedBeforeOrAfterThePush(t *testing.T) {
	t.Parallel()
	r := testenv.StartRegistry(t, testenv.RegistryOptions{})
	o := oci.Options{PlainHTTP: true, DockerConfig: filepath.Join(t.TempDir(), "none.json")}
	for _, order := range []string{"push then sign", "sign then push"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			dir := serveRepo(t, false)
			private, _ := signingtest.KeyPair(t, signingtest.ECDSA)
			push := []string{"--repo", dir, "model", "push", "iris-classifier@1.0.0", "--to", r.Host + "/models/" + strings.ReplaceAll(order, " ", "-"), "--plain-http"}
			sign := []string{"--repo", dir, "model", "sign", "iris-classifier@1.0.0", "--key", private, "--plain-http"}
			if order == "push then sign" {
				mustMarina(t, push...)
				if out := mustMarina(t, sign...); !strings.Contains(out, "attached  "+r.Host) {
					t.Fatalf("sign did not say where it attached the signature:\n%s", out)
				}
			} else {
				mustMarina(t, sign...)
				mustMarina(t, push...)
			}
			bundle, err := os.ReadFile(filepath.Join(dir, irisSignature))
			if err != nil {
				t.Fatal(err)
			}
			if uri := registered(t, dir).Artifact.URI; !signatureAttached(t, o, uri, bundle) {
				t.Fatalf("the committed signature is not attached to %s", uri)
			}
		})
	}
}

func TestPullAndServeWithAVerifyKeyKeepOnlyWhatTheKeySigned(t *testing.T) {
	dir := serveRepo(t, false)
	r := testenv.StartRegistry(t, testenv.RegistryOptions{})
	o := oci.Options{PlainHTTP: true, DockerConfig: filepath.Join(t.TempDir(), "none.json")}
	private, public := signingtest.KeyPair(t, signingtest.ECDSA)
	_, stranger := signingtest.KeyPair(t, signingtest.ECDSA)
	mustMarina(t, "--repo", dir, "model", "push", "iris-classifier@1.0.0", "--to", r.Host+"/models/iris", "--plain-http")
	mustMarina(t, "--repo", dir, "model", "sign", "iris-classifier@1.0.0", "--key", private, "--plain-http")
	signed := registered(t, dir).Artifact.URI
	bundle, err := os.ReadFile(filepath.Join(dir, irisSignature))
	if err != nil {
		t.Fatal(err)
	}

	// The same model file, pushed elsewhere: unsigned, with an altered signature, with a signature of another file.
	model := filepath.Join(dir, "models", "iris-classifier", "artifacts", "v1.0.0.onnx")
	elsewhere := func(repo string, attach []byte) string {
		to, err := oci.ParseRepository(r.Host + "/models/" + repo)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := oci.Push(t.Context(), o, oci.Artifact{File: model, Name: "v1.0.0.onnx", Digest: registered(t, dir).Artifact.Digest,
			Metadata: []byte("{}"), Model: "iris-classifier", Version: "1.0.0"}, to)
		if err != nil {
			t.Fatal(err)
		}
		if attach != nil {
			if _, err := oci.Attach(t.Context(), o, ref, attach, signing.ModelPredicateType); err != nil {
				t.Fatal(err)
			}
		}
		return ref.URI()
	}
	key, err := signing.LoadPrivateKey(private, cryptoutils.StaticPasswordFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	otherFile, err := signing.SignModel(t.Context(), key, signing.Manifest{Model: "iris-classifier",
		Resources: []signing.Resource{signing.DigestResource("v1.0.0.onnx", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")}})
	if err != nil {
		t.Fatal(err)
	}
	unsigned := elsewhere("unsigned", nil)
	altered := elsewhere("altered", []byte(strings.Replace(string(bundle), `"sig": "`, `"sig": "AAAA`, 1)))
	foreign := elsewhere("foreign", otherFile)

	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"a signed artifact pulls", []string{"model", "pull", signed, "--verify-key", public}, 0, "verified"},
		{"a registered signed version pulls", []string{"--repo", dir, "model", "pull", "iris-classifier@1.0.0", "--verify-key", stranger, "--verify-key", public}, 0, "verified"},
		{"an unsigned artifact is refused", []string{"model", "pull", unsigned, "--verify-key", public}, 1, "no signature attached"},
		{"a signature by another key is refused", []string{"model", "pull", signed, "--verify-key", stranger}, 1, "no signature verifies with " + stranger},
		{"an altered signature is refused", []string{"model", "pull", altered, "--verify-key", public}, 1, "signature does not verify"},
		{"a signature of another model file is refused", []string{"model", "pull", foreign, "--verify-key", public}, 1, "but sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef was expected"},
		{"serve refuses an unsigned artifact", []string{"serve", "--model", unsigned, "--verify-key", public, "--addr", "127.0.0.1:0"}, 1, "no signature attached"},
		{"serve refuses a signature by another key", []string{"serve", "--model", signed, "--verify-key", stranger, "--addr", "127.0.0.1:0"}, 1, "no signature verifies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			into := filepath.Join(t.TempDir(), "models")
			args := append(tc.args, "--plain-http")
			if tc.args[0] == "serve" {
				args = append(args, "--model-dir", into)
			} else if tc.args[0] != "--repo" || tc.args[2] != "serve" {
				args = append(args, "--dir", into)
			}
			code, out, errOut := marina(t, args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.says) {
				t.Fatalf("exit %d, want %d saying %q:\n%s%s", code, tc.code, tc.says, out, errOut)
			}
			if got := files(t, into); (code == 0) != (got == "v1.0.0.onnx") {
				t.Fatalf("exit %d left %q in the model directory", code, got)
			}
		})
	}

	inferencetest.Lib(t)
	base := startServe(t, "--model", signed, "--verify-key", public, "--model-dir", t.TempDir(), "--plain-http")
	if code, resp := post(t, base+"/v1/models/iris-classifier:predict", `{"instances":[[5.1,3.5,1.4,0.2]]}`); code != 200 || len(resp["predictions"].([]any)) != 1 {
		t.Fatalf("predict: %d %v", code, resp)
	}
}

func TestRenderPassesMarinaYAMLsPublicKeysToTheInitContainer(t *testing.T) {
	t.Parallel()
	_, public := signingtest.KeyPair(t, signingtest.ECDSA)
	pem, err := os.ReadFile(public)
	if err != nil {
		t.Fatal(err)
	}
	project, err := os.ReadFile(filepath.Join(repotest.ExamplePath(), "marina.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := os.ReadFile(filepath.Join(repotest.ExamplePath(), "models", "iris-classifier", "v1.0.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	// the artifact pushed to a registry: its manifest digest stands for any (render never resolves it)
	manifest := registered(t, serveRepo(t, false)).Artifact.Digest
	pushed := strings.Replace(string(meta), `"models/iris-classifier/artifacts/v1.0.0.onnx"`, `"oci://registry.example.com/models/iris@`+manifest+`"`, 1)
	signed := strings.Replace(string(project), "\nspec:\n", "\nspec:\n  signing:\n    publicKeys:\n    - keys/release.pub\n", 1)
	dir := repotest.Example(t, map[string]string{"marina.yaml": signed, "models/iris-classifier/v1.0.0.json": pushed, "keys/release.pub": string(pem)})
	out := mustMarina(t, "--repo", dir, "render", "--env", "staging", "--model", "iris-classifier")
	for _, want := range []string{"kind: ConfigMap", "iris-classifier-signing-keys-", `- "--verify-key"`, "/etc/marina/keys/0.pub", strings.Split(string(pem), "\n")[1]} {
		if !strings.Contains(out, want) {
			t.Fatalf("render lacks %q:\n%s", want, out)
		}
	}

	missing := repotest.Example(t, map[string]string{"marina.yaml": signed, "models/iris-classifier/v1.0.0.json": pushed})
	code, _, errOut := marina(t, "--repo", missing, "render", "--env", "staging")
	if code == 0 || !strings.Contains(errOut, "marina.yaml: spec.signing.publicKeys[0]") {
		t.Fatalf("a missing key: exit %d %s", code, errOut)
	}
}
