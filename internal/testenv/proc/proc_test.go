package proc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startShell starts sh -c script through Start and waits until the script has written "ready" to its log.
func startShell(t *testing.T, script string) (*Process, string) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "sh.log")
	p, err := Start(exec.Command("sh", "-c", script), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(0) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := os.ReadFile(log)
		if strings.Contains(string(out), "ready") {
			return p, log
		}
		if time.Now().After(deadline) {
			t.Fatalf("the script did not get ready within 10 s; log: %q", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		script   string
		grace    time.Duration
		minTaken time.Duration // Stop waits at least this long
		maxTaken time.Duration // and returns within this
	}{
		{
			name:     "a process that exits on SIGTERM is stopped without waiting for the grace period",
			script:   "trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done",
			grace:    time.Minute,
			maxTaken: 10 * time.Second,
		},
		{
			// exec keeps the ignored SIGTERM: sleep itself ignores it, and no orphan outlives the kill.
			name:     "a process that ignores SIGTERM is killed after the grace period and reaped",
			script:   "trap '' TERM; echo ready; exec sleep 60",
			grace:    300 * time.Millisecond,
			minTaken: 300 * time.Millisecond,
			maxTaken: 10 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, _ := startShell(t, tt.script)
			start := time.Now()
			p.Stop(tt.grace)
			taken := time.Since(start)
			if taken < tt.minTaken || taken > tt.maxTaken {
				t.Errorf("Stop took %v, want between %v and %v", taken, tt.minTaken, tt.maxTaken)
			}
			select {
			case <-p.Exited():
			default:
				t.Fatal("Exited is open after Stop returned")
			}
			// A reaped process is gone; a zombie would still accept signal 0.
			if err := syscall.Kill(p.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("signal 0 to the stopped process: %v, want ESRCH (exited and reaped)", err)
			}
			p.Stop(tt.grace) // a second Stop does nothing
		})
	}
}

func TestStartAppendsOutputToTheLog(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "out.log")
	if err := os.WriteFile(log, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Start(exec.Command("sh", "-c", "echo out; echo err >&2"), log)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "before\nout\nerr\n" {
		t.Errorf("log = %q, want the earlier content, then stdout and stderr", got)
	}
}

func TestStartNamesWhatCouldNotStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Start(exec.Command(filepath.Join(dir, "missing")), filepath.Join(dir, "missing.log"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing")) {
		t.Fatalf("Start of a missing binary: %v, want an error naming it", err)
	}
	if _, err := Start(exec.Command("true"), filepath.Join(dir, "no", "such", "dir.log")); err == nil {
		t.Fatal("Start with a log in a missing directory succeeded")
	}
}
