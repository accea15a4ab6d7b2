package supervisor

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestARunnerEndsAStepAtFatalAndTearsDownInReverse(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	temp := filepath.Join(t.TempDir(), "tmp")
	r := newRunner(&log, temp)
	var order []string
	reached := false
	err := r.do(func() {
		r.Cleanup(func() { order = append(order, "first") })
		r.Cleanup(func() { order = append(order, "second") })
		if d := r.TempDir(); !strings.HasPrefix(d, temp) {
			t.Errorf("TempDir %s is not under %s", d, temp)
		}
		r.Fatalf("kube-apiserver did not start: %s", "port in use")
		reached = true
	})
	if err == nil || err.Error() != "kube-apiserver did not start: port in use" {
		t.Fatalf("do returned %v, want the Fatalf message", err)
	}
	if reached {
		t.Error("the step went on after Fatalf")
	}
	if !r.Failed() || !strings.Contains(log.String(), "error: kube-apiserver did not start") {
		t.Errorf("Failed %v, log %q: want the failure recorded and logged", r.Failed(), log.String())
	}
	if err := r.do(func() {}); err != nil {
		t.Errorf("a later step that records nothing returned %v", err)
	}
	if err := r.teardown(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{"second", "first"}) {
		t.Errorf("cleanups ran %v, want the last registered first", order)
	}
	if _, err := os.Stat(temp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("teardown left the temporary directory: %v", err)
	}
}

func TestAMissingPrerequisiteIsAnErrorNotASkip(t *testing.T) {
	t.Parallel()
	r := newRunner(&bytes.Buffer{}, t.TempDir())
	err := r.do(func() { r.Skip("kube-apiserver not found: run `bash hack/controlplane.sh`") })
	if err == nil || !strings.Contains(err.Error(), "hack/controlplane.sh") {
		t.Fatalf("do returned %v, want the prerequisite's hint as an error", err)
	}
}

func TestACleanupThatFailsDoesNotStopTheOthers(t *testing.T) {
	t.Parallel()
	r := newRunner(&bytes.Buffer{}, t.TempDir())
	ran := false
	r.Cleanup(func() { ran = true })
	r.Cleanup(func() { r.Fatal("containerd would not stop") })
	err := r.teardown()
	if err == nil || !strings.Contains(err.Error(), "containerd would not stop") {
		t.Errorf("teardown returned %v, want the failed cleanup's error", err)
	}
	if !ran {
		t.Error("the cleanup registered before the failing one did not run")
	}
}
