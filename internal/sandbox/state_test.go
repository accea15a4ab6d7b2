package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStatusSaysWhyNoSandboxRuns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		state *State // written to state.json; nil: none
		want  string
	}{
		{name: "no state file", want: "no state.json in"},
		{name: "a supervisor that is gone", state: &State{PID: deadPID(t), Phase: PhaseReady}, want: "is gone"},
		{name: "a process that is not a supervisor got its pid", state: &State{PID: os.Getpid(), Phase: PhaseReady}, want: "is gone"},
		{name: "the last start failed", state: &State{PID: deadPID(t), Phase: PhaseFailed, Error: "real node: kubelet did not start", Log: "/x/sandbox.log"},
			want: "the last start failed: real node: kubelet did not start (log: /x/sandbox.log)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Status(stateDir(t, tc.state))
			if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Status: %v; want ErrNotRunning saying %q", err, tc.want)
			}
		})
	}
}

func TestStateRoundTripsThroughTheFileStatusPrints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want := State{PID: 42, Phase: PhaseReady, Started: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC), Log: "/d/sandbox.log",
		Kubeconfig: "/d/kubeconfig", Git: "http://127.0.0.1:1/ml-platform.git", Registry: "10.0.0.2:5000",
		Prometheus: "http://127.0.0.1:9090", Endpoints: map[string]string{"iris-classifier/staging": "http://127.0.0.1:2"}}
	if err := WriteState(dir, want); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"kubeconfig"`, `"git"`, `"registry"`, `"prometheus"`, `"endpoints"`, `"iris-classifier/staging"`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("state.json lacks %s:\n%s", key, b)
		}
	}
	got, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Git != want.Git || got.Endpoints["iris-classifier/staging"] != want.Endpoints["iris-classifier/staging"] || !got.Started.Equal(want.Started) {
		t.Errorf("read back %+v, want %+v", got, want)
	}
}

func TestACorruptStateFileNamesItselfAndTheFix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadState(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, StateFile)) || !strings.Contains(err.Error(), "remove the file") {
		t.Errorf("ReadState: %v; want the file's path and what to do", err)
	}
}

func TestDownWithNothingRunningSaysSoAndSucceeds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		state *State
	}{
		{name: "no state file"},
		{name: "a failed start's state", state: &State{PID: deadPID(t), Phase: PhaseFailed, Error: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			if err := Down(context.Background(), stateDir(t, tc.state), &out); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "No sandbox is running") {
				t.Errorf("down printed %q", out.String())
			}
		})
	}
}

func TestASecondSupervisorOnTheSameDirectoryIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unlock, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockDir(dir); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("a second lock: %v, want ErrAlreadyRunning", err)
	}
	unlock()
	again, err := LockDir(dir)
	if err != nil {
		t.Errorf("the lock after the first was released: %v", err)
	} else {
		again()
	}
}

// stateDir is a state directory with state.json holding st, or none when st is nil.
func stateDir(t *testing.T, st *State) string {
	t.Helper()
	dir := t.TempDir()
	if st != nil {
		if err := WriteState(dir, *st); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// deadPID is the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	return p.Pid
}

func TestExitedTellsAGoneOrZombieProcessFromALiveOne(t *testing.T) {
	t.Parallel()
	if Exited(os.Getpid()) {
		t.Error("this very process counts as exited")
	}
	if !Exited(deadPID(t)) {
		t.Error("a reaped process counts as running")
	}
	zombie, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = zombie.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for !Exited(zombie.Pid) { // not reaped yet: a zombie once true has exited
		if time.Now().After(deadline) {
			t.Fatal("a zombie never counted as exited")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
