package testenv

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/doctor"
)

// MainWithMarina is the TestMain of the packages that run marina as a process (test/e2e, test/crash): it builds
// cmd/marina once, with buildFlags (e.g. "-tags", "x"), into a temporary directory, sets *bin to the binary, runs
// the tests and removes the build.
func MainWithMarina(m *testing.M, bin *string, buildFlags ...string) {
	dir, err := os.MkdirTemp("", "marina-bin")
	if err != nil {
		panic(err)
	}
	*bin = filepath.Join(dir, "marina")
	args := append(append([]string{"build", "-o", *bin}, buildFlags...), "github.com/marina-dev/marina/cmd/marina")
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic("building marina: " + err.Error())
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// RunMarina runs marina (the binary bin) in dir with args, as a user would, and returns its output; a non-zero exit
// fails tb with the output.
func RunMarina(tb TB, bin, dir string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("marina %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Doctor runs `marina doctor -o json` (the binary bin) in the repository dir against kubeconfig, as a user would,
// and returns its checks; doctor's exit 1 for a failed check is not an error here.
func Doctor(tb TB, bin, dir, kubeconfig string) []doctor.Check {
	tb.Helper()
	cmd := exec.Command(bin, "doctor", "--kubeconfig", kubeconfig, "-o", "json")
	cmd.Dir = dir
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		tb.Fatalf("marina doctor: %v", err)
	}
	var report struct{ Checks []doctor.Check }
	if err := json.Unmarshal(out, &report); err != nil {
		tb.Fatalf("marina doctor -o json: %v\n%s", err, out)
	}
	return report.Checks
}

// StartController runs `marina controller` (the binary bin) against the cluster with kubeconfig (e.g. a
// ServiceAccount's, so RBAC judges it), watching every namespace, until the test ends; it returns once the
// controller's /readyz answers. Its log is Logs("marina-controller").
func (c *Cluster) StartController(tb TB, bin, kubeconfig string) {
	tb.Helper()
	ports := freePorts(tb, 2)
	health := "127.0.0.1:" + strconv.Itoa(ports[1])
	c.start(tb, "marina-controller", exec.Command(bin, "controller", "--kubeconfig", kubeconfig,
		"--metrics-addr", "127.0.0.1:"+strconv.Itoa(ports[0]), "--health-addr", health, "--git-cache", tb.TempDir(), "-A"))
	c.waitHealthy(tb, "marina-controller", "http://"+health+"/readyz")
}
