package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/cli"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/logtest"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/model/onnxtest"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/signing"
	"github.com/marina-dev/marina/internal/signing/signingtest"
)

var servingRE = regexp.MustCompile(`on (http://[0-9.:]+) `)

// startServe runs `marina serve args…` on a free loopback port until the test ends, and returns its base URL.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	url, _ := startServeLogging(t, args...)
	return url
}

// startServeLogging is startServe that also returns what serve writes to stderr.
func startServeLogging(t *testing.T, args ...string) (string, *logtest.Buffer) {
	t.Helper()
	m, errOut := startCommand(t, servingRE, "stopped serving", append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	return m[1], errOut
}

// startCommand runs a long-running marina command (serve, router) until the test ends, and returns the submatches
// of started in its stdout, once it has printed that, and its stderr. At the end of the test it cancels the
// command, which must then exit without error after printing stopped.
func startCommand(t *testing.T, started *regexp.Regexp, stopped string, args ...string) ([]string, *logtest.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut logtest.Buffer
	cmd := cli.NewRootCommand(strings.NewReader(""), &out, &errOut)
	cmd.SetArgs(args)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("marina %s after cancel: %v", args[0], err)
		}
		if !strings.Contains(out.String(), stopped) {
			t.Errorf("marina %s did not say %q when stopped:\n%s", args[0], stopped, out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := started.FindStringSubmatch(out.String()); m != nil {
			return m, &errOut
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("marina %s exited early: %v\n%s%s", args[0], err, out.String(), errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("marina %s did not start:\n%s%s", args[0], out.String(), errOut.String())
	return nil, nil
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("POST %s: %d %q", url, resp.StatusCode, b)
	}
	return resp.StatusCode, v
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// serveRepo is a model repository holding the example iris-classifier 1.0.0 (metadata and artifact); tamper
// replaces the artifact's content.
func serveRepo(t *testing.T, tamper bool) string {
	t.Helper()
	const src = "../../examples/ml-platform/models/iris-classifier/"
	meta, err := os.ReadFile(src + "v1.0.0.json")
	if err != nil {
		t.Fatal(err)
	}
	artifact, err := os.ReadFile(src + "artifacts/v1.0.0.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if tamper {
		artifact = append(artifact, 0)
	}
	return repotest.Dir(t, map[string]string{
		"models/iris-classifier/v1.0.0.json":           string(meta),
		"models/iris-classifier/artifacts/v1.0.0.onnx": string(artifact),
	})
}

func TestServeAFileAnswersWithTheModelsExactOutputs(t *testing.T) {
	inferencetest.Lib(t)
	l := onnxtest.Iris()
	b, err := l.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "iris.onnx")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	base := startServe(t, "--model", file)
	if code, _ := get(t, base+"/v2/health/ready"); code != 200 {
		t.Fatalf("ready = %d", code)
	}
	x := []float32{5.9, 3.0, 5.1, 1.8}
	code, resp := post(t, base+"/v2/models/iris/infer", fmt.Sprintf(`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[%v,%v,%v,%v]}]}`, x[0], x[1], x[2], x[3]))
	if code != 200 {
		t.Fatalf("infer: %d %v", code, resp)
	}
	data := resp["outputs"].([]any)[0].(map[string]any)["data"].([]any)
	want := l.Predict(x)
	for i := range want {
		if math.Abs(data[i].(float64)-float64(want[i])) > 1e-6 {
			t.Fatalf("outputs %v, want %v", data, want)
		}
	}
	if code, resp := post(t, base+"/v2/models/iris/infer", `{"inputs":[{"name":"input","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]}`); code != 400 {
		t.Fatalf("ill-shaped request: %d %v", code, resp)
	}
	if _, metrics := get(t, base+"/metrics"); !strings.Contains(metrics, `marina_serve_requests_total{code="400",endpoint="infer"} 1`) {
		t.Fatalf("/metrics lacks the 400:\n%s", metrics)
	}
}

func TestServeARegisteredVersionVerifiesItsDigest(t *testing.T) {
	inferencetest.Lib(t)
	dir := serveRepo(t, false)
	base := startServe(t, "--repo", dir, "--model", "iris-classifier@1.0.0")
	code, body := get(t, base+"/v2/models/iris-classifier")
	if code != 200 || !strings.Contains(body, `"versions":["1.0.0"]`) || !strings.Contains(body, `"platform":"onnxruntime"`) {
		t.Fatalf("metadata: %d %s", code, body)
	}
	if code, resp := post(t, base+"/v1/models/iris-classifier:predict", `{"instances":[[5.1,3.5,1.4,0.2],[6.7,3.0,5.2,2.3]]}`); code != 200 || len(resp["predictions"].([]any)) != 2 {
		t.Fatalf("predict: %d %v", code, resp)
	}
}

// blockByHand marks iris-classifier 1.0.0 of dir blocked for reason in its metadata, uncommitted, as a hand edit
// would (serve reads the work tree).
func blockByHand(t *testing.T, dir, reason string) {
	t.Helper()
	meta := filepath.Join(dir, "models", "iris-classifier", "v1.0.0.json")
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	blocked := strings.Replace(string(b), `"state": "active"`, `"state": "blocked", "stateReason": "`+reason+`"`, 1)
	if err := os.WriteFile(meta, []byte(blocked), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestServeWarnsWhenServingABlockedVersionAndReportsItsOwnVersion(t *testing.T) {
	inferencetest.Lib(t)
	dir := serveRepo(t, false)
	blockByHand(t, dir, "accuracy regression in prod")
	base, errOut := startServeLogging(t, "--repo", dir, "--model", "iris-classifier@1.0.0", "-v")
	if !strings.Contains(errOut.String(), "level=WARN msg=\"serving a blocked version\" model=iris-classifier version=1.0.0 reason=\"accuracy regression in prod\"") {
		t.Errorf("no warning:\n%s", errOut.String())
	}
	code, body := get(t, base+"/v2")
	var meta2 struct{ Name, Version, Onnxruntime string }
	if err := json.Unmarshal([]byte(body), &meta2); err != nil || code != 200 || meta2.Name != "marina" || meta2.Version != "dev" || !strings.HasPrefix(meta2.Onnxruntime, "1.") {
		t.Errorf("/v2: %d %s", code, body)
	}
	if !strings.Contains(errOut.String(), "msg=request method=GET path=/v2 status=200") {
		t.Errorf("-v logs no request line:\n%s", errOut.String())
	}
}

func TestServeRefusesAnArtifactWhoseDigestDiffers(t *testing.T) {
	inferencetest.Lib(t)
	dir := serveRepo(t, true)
	code, _, errOut := marina(t, "--repo", dir, "serve", "--model", "models/iris-classifier@1.0.0", "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "refusing to serve") || !strings.Contains(errOut, "models/iris-classifier/v1.0.0.json") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	file := filepath.Join(dir, "models/iris-classifier/artifacts/v1.0.0.onnx")
	code, _, errOut = marina(t, "serve", "--model", file, "--digest", "sha256:"+strings.Repeat("0", 64), "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "--digest says") {
		t.Fatalf("--digest mismatch: exit %d: %s", code, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = marina(t, "serve", "--model", bad, "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, bad) || !strings.Contains(errOut, "malformed ONNX model") {
		t.Fatalf("malformed model: exit %d: %s", code, errOut)
	}
}

func TestServeUsageErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no model", []string{"serve"}, 2, "--model is required"},
		{"a missing file", []string{"serve", "--model", "/nonexistent.onnx"}, 2, "no such file"},
		{"a remote uri", []string{"serve", "--model", "s3://bucket/m.onnx"}, 2, "cannot fetch s3://"},
		{"a bad digest", []string{"serve", "--model", file, "--digest", "md5:abc"}, 2, "--digest"},
		{"a bad body limit", []string{"serve", "--model", file, "--max-body", "lots"}, 2, "--max-body"},
		{"a negative concurrency", []string{"serve", "--model", file, "--max-concurrency", "-1"}, 2, "--max-concurrency"},
		{"an unregistered version", []string{"--repo", repotest.Dir(t, nil), "serve", "--model", "m@1.0.0"}, 1, "not registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := marina(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d %q, want %d containing %q", code, errOut, tc.code, tc.want)
			}
		})
	}
}

func TestServeAcceptsTheFlagsRenderedDeploymentsPass(t *testing.T) {
	inferencetest.Lib(t)
	dir := serveRepo(t, false)
	file := filepath.Join(dir, "models/iris-classifier/artifacts/v1.0.0.onnx")
	digest := "sha256:05f6759bd4f24b056f0d290267459d5b63dcc1f451fd702ee5796f4179c78cf5"
	base := startServe(t, "--model="+file, "--digest="+digest, "--name=iris-classifier")
	if code, _ := get(t, base+"/v2/models/iris-classifier/ready"); code != 200 {
		t.Fatalf("model ready = %d", code)
	}
}

func TestServeRunsTheBytesItVerifiedEvenIfTheFileIsReplacedBeforeLoading(t *testing.T) {
	inferencetest.Lib(t)
	// not parallel: the hook is the package's
	dir := t.TempDir()
	writeIrisModel(t, filepath.Join(dir, "v"))
	verified, swapped := filepath.Join(dir, "v1.0.0"), filepath.Join(dir, "v1.1.0")
	d, _, err := model.DigestFile(verified)
	if err != nil {
		t.Fatal(err)
	}
	private, public := signingtest.KeyPair(t, signingtest.ECDSA)
	key, err := signing.LoadPrivateKey(private, nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := signing.SignModel(t.Context(), key, signing.Manifest{Model: "iris", Resources: []signing.Resource{signing.DigestResource("iris.onnx", d)}})
	if err != nil {
		t.Fatal(err)
	}
	sig := filepath.Join(dir, "iris.sigstore.json")
	if err := os.WriteFile(sig, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	want := predict(t, startServe(t, "--model", verified, "--name", "iris"), "iris")
	if other := predict(t, startServe(t, "--model", swapped, "--name", "iris"), "iris"); reflect.DeepEqual(other, want) {
		t.Fatalf("the two models answer alike (%v): the test could not tell them apart", want)
	}
	for _, tc := range []struct {
		name  string
		check []string
	}{
		{"checked by digest", []string{"--digest", d}},
		{"checked by signature", []string{"--verify-key", public, "--signature", sig}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "iris.onnx")
			copyFile(t, verified, file)
			hooked := false
			t.Cleanup(cli.SetChecked(func(f string) {
				if f == file {
					hooked = true
					copyFile(t, swapped, file) // what an attacker with write access to --model-dir would do
				}
			}))
			got := predict(t, startServe(t, append([]string{"--model", file, "--name", "iris"}, tc.check...)...), "iris")
			if !hooked {
				t.Fatal("serve never reached the point between its checks and loading")
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("serve answers %v, the replaced file's answers, not the verified model's %v", got, want)
			}
		})
	}
}

// copyFile replaces to with a copy of from.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

func TestServeWritesWhyItExitedToTheTerminationLogWhenTheFileExists(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		exists bool
		model  []string
		want   string // in the termination message
	}{
		{"a missing model file", true, []string{"--model", "no-such-model.onnx"}, "no-such-model.onnx"},
		{"credentials in the model's URL are not written", true,
			[]string{"--model", "https://user:s3cret-token@127.0.0.1:1/m.onnx", "--digest", "sha256:" + strings.Repeat("0", 64)}, "127.0.0.1:1"},
		{"no file outside a container: none is created", false, []string{"--model", "no-such-model.onnx"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			log := filepath.Join(dir, "termination-log")
			if tc.exists {
				if err := os.WriteFile(log, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"serve", "--model-dir", dir, "--termination-log", log}, tc.model...)
			code, _, errOut := marina(t, args...)
			if code == 0 {
				t.Fatalf("marina serve exited 0:\n%s", errOut)
			}
			b, err := os.ReadFile(log)
			if !tc.exists {
				if !os.IsNotExist(err) {
					t.Fatalf("serve created %s (%v): %q", log, err, b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			msg := string(b)
			if !strings.Contains(msg, tc.want) || !strings.Contains(errOut, msg) {
				t.Errorf("termination message %q: want the error serve printed, naming %q:\n%s", msg, tc.want, errOut)
			}
			if strings.Contains(msg, "s3cret-token") {
				t.Errorf("termination message %q holds the URL's password", msg)
			}
		})
	}
}
