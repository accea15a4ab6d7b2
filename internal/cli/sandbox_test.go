package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Not parallel: it changes the working directory.
func TestSandboxUpOutsideACloneOfMarinaSaysWhereToRunIt(t *testing.T) {
	t.Chdir(t.TempDir())
	code, _, errOut := marina(t, "sandbox", "up", "--dir", t.TempDir())
	want := "run it from a clone of marina"
	if os.Geteuid() != 0 {
		want = "needs root" // checked first
	}
	if code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
}

func TestSandboxStatusAndDownWithNothingRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, _, errOut := marina(t, "sandbox", "status", "--dir", dir)
	if code != 1 || !strings.Contains(errOut, "no sandbox is running") {
		t.Errorf("status: exit %d, stderr %q; want 1 and that no sandbox is running", code, errOut)
	}
	code, _, errOut = marina(t, "sandbox", "down", "--dir", dir)
	if code != 0 || !strings.Contains(errOut, "No sandbox is running") {
		t.Errorf("down: exit %d, stderr %q; want 0 and that nothing runs", code, errOut)
	}
}

func TestSandboxStatusPrintsWhereEachPartRuns(t *testing.T) {
	t.Parallel()
	// A process whose command line is a supervisor's, as status checks it: the state's pid must be one.
	sup := exec.Command("sh", "-c", "sleep 60; :", "/tmp/marina-sandbox", "supervise")
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sup.Process.Kill(); _ = sup.Wait() })
	// Until sh has exec'd, the child's command line is this test binary's.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", sup.Process.Pid)); strings.Contains(string(b), "supervise") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stand-in supervisor did not start")
		}
	}
	dir := t.TempDir()
	state := map[string]any{"pid": sup.Process.Pid, "phase": "ready", "started": time.Now().UTC(), "log": filepath.Join(dir, "sandbox.log"),
		"kubeconfig": "/s/kubeconfig", "git": "http://127.0.0.1:1/ml-platform.git", "registry": "192.0.2.2:5000",
		"prometheus": "http://127.0.0.1:9090", "endpoints": map[string]string{"iris-classifier/staging": "http://127.0.0.1:2"}}
	b, _ := json.Marshal(state)
	if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustMarina(t, "sandbox", "status", "--dir", dir, "-o", "json")
	var got struct {
		Kubeconfig, Git, Registry, Prometheus string
		Endpoints                             map[string]string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Kubeconfig != "/s/kubeconfig" || got.Git != state["git"] || got.Registry != "192.0.2.2:5000" ||
		got.Prometheus != state["prometheus"] || got.Endpoints["iris-classifier/staging"] != "http://127.0.0.1:2" {
		t.Errorf("status -o json: %s", out)
	}
	table := mustMarina(t, "sandbox", "status", "--dir", dir)
	for _, want := range []string{"kubeconfig", "/s/kubeconfig", "iris-classifier/staging", "http://127.0.0.1:2/v2/models/iris-classifier/infer"} {
		if !strings.Contains(table, want) {
			t.Errorf("status lacks %q:\n%s", want, table)
		}
	}
}

func TestSandboxDemoWithoutASandboxSaysToStartOne(t *testing.T) {
	t.Parallel()
	wantUsageErrors(t, []usageError{
		{[]string{"sandbox", "demo", "--dir", t.TempDir()}, "no sandbox is running"},
		{[]string{"sandbox", "demo", "--dir", t.TempDir(), "--timeout", "0s"}, "--timeout 0s"},
	})
}
