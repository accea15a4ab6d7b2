//go:build cgo

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/cli"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model/onnxtest"
)

var servingRE = regexp.MustCompile(`on (http://[0-9.:]+) \(ONNX Runtime `)

// TestMarinaServeServesAModelInONNXRuntime builds marina-serve, serves a model with it as rendered Deployments do
// (serve --model …), checks one inference against the model's pure-Go reference, and stops it with SIGTERM.
func TestMarinaServeServesAModelInONNXRuntime(t *testing.T) {
	t.Parallel()
	lib := inferencetest.Lib(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "marina-serve")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/marina-serve: %v\n%s", err, out)
	}
	l := onnxtest.Iris()
	file := inferencetest.Write(t, l.Bytes)

	cmd := exec.Command(bin, "serve", "--model", file, "--name", "iris", "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "ONNXRUNTIME_LIB="+lib)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("marina-serve printed nothing: %v\n%s", cmd.Wait(), &stderr)
	}
	m := servingRE.FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("first line %q does not say where it serves", lines.Text())
	}

	x := []float32{5.1, 3.5, 1.4, 0.2}
	body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "input", "shape": []int{1, 4}, "datatype": "FP32", "data": x}}})
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(m[1]+"/v2/models/iris/infer", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Outputs []struct {
			Name string
			Data []float32
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK || len(got.Outputs) != 1 {
		t.Fatalf("infer: status %d, %+v, %v", resp.StatusCode, got, err)
	}
	if want := l.Predict(x); !inferencetest.Same(got.Outputs[0].Data, want) {
		t.Fatalf("probabilities %v, want %v", got.Outputs[0].Data, want)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(rest.String(), "stopped serving iris") {
		t.Fatalf("after SIGTERM: %v\n%s%s", err, &rest, &stderr)
	}
}

func TestMarinaServeHasOnlyTheModelServer(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := cli.ExecuteServe([]string{"init", "x"}, strings.NewReader(""), &out, &errOut); code != cli.ExitUsage || !strings.Contains(errOut.String(), `unknown command "init"`) {
		t.Fatalf("marina-serve init: exit %d\n%s%s", code, &out, &errOut)
	}
	out.Reset()
	if code := cli.ExecuteServe([]string{"--help"}, strings.NewReader(""), &out, &errOut); code != cli.ExitOK || !strings.Contains(out.String(), "serve ") {
		t.Fatalf("marina-serve --help: exit %d\n%s%s", code, &out, &errOut)
	}
	if strings.Contains(out.String(), "controller") {
		t.Errorf("marina-serve --help lists marina's other commands:\n%s", &out)
	}
}
