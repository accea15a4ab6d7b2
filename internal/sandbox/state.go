package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/marina-dev/marina/internal/source"
)

// Phase is where a sandbox is in its life.
type Phase string

// The phases a supervisor writes into state.json.
const (
	PhaseStarting Phase = "starting"
	PhaseReady    Phase = "ready"
	PhaseFailed   Phase = "failed"
	PhaseStopping Phase = "stopping"
)

// State is what a sandbox's supervisor writes to STATE_DIR/state.json, and what `marina sandbox status` prints.
type State struct {
	// PID is the supervisor's process id: down sends it SIGTERM.
	PID   int   `json:"pid"`
	Phase Phase `json:"phase"`
	// Error says why the start failed (PhaseFailed).
	Error   string    `json:"error,omitempty"`
	Started time.Time `json:"started"`
	// Log is the supervisor's log: every step, and what the components it starts print when they fail.
	Log string `json:"log"`
	// Kubeconfig is an admin kubeconfig for the sandbox's API server.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Git is the URL of the model repository Flux syncs (anonymous clone and push).
	Git string `json:"git,omitempty"`
	// Clone is a working clone of Git, with origin set to it: run marina promote --push there.
	Clone string `json:"clone,omitempty"`
	// Registry is the OCI registry's HOST:PORT (plain HTTP) holding marina's images and the model versions.
	Registry string `json:"registry,omitempty"`
	// Prometheus is the URL of Prometheus, which scrapes the model servers.
	Prometheus string `json:"prometheus,omitempty"`
	// UI is marina ui's loopback URL, with the token it requires (?token=, which sets a cookie and is then dropped
	// from the address).
	UI string `json:"ui,omitempty"`
	// Endpoints are loopback URLs answering the Open Inference Protocol (v2), by MODEL/ENV.
	Endpoints map[string]string `json:"endpoints,omitempty"`
}

// Sentinel errors callers test with errors.Is.
var (
	// ErrNotRunning means no sandbox runs with this state directory.
	ErrNotRunning = errors.New("no sandbox is running")
	// ErrAlreadyRunning means a sandbox already runs with this state directory.
	ErrAlreadyRunning = errors.New("a sandbox is already running")
	// ErrNotRoot means the sandbox cannot start a real node: it needs root.
	ErrNotRoot = errors.New("marina sandbox runs a real node (containerd, kubelet, kube-proxy, iptables rules) and needs root: run it with sudo")
)

// Options say what a sandbox serves and where it keeps its state.
type Options struct {
	// Dir is the state directory: state.json, sandbox.log, the Git server's repositories, the working clone.
	Dir string
	// Repo is the model repository the Git server serves a copy of; empty: Source's examples/ml-platform.
	Repo string
	// Source is marina's source tree: its hack/ scripts build the assets, make image builds the images, and
	// cmd/marina-sandbox is the supervisor.
	Source string
	// Marina is the marina binary the supervisor runs: the controller, and the commands that prepare the repository.
	Marina string
}

// Files of the state directory.
const (
	// StateFile is the state the supervisor writes.
	StateFile = "state.json"
	// LogFile is the supervisor's log.
	LogFile = "sandbox.log"
)

// ProgressPrefix starts the lines of the supervisor's output that up shows as progress.
const ProgressPrefix = "==> "

// The supervisor: cmd/marina-sandbox, which up builds from the source tree and runs with these subcommands. It
// links internal/testenv (envtest, test helpers), which the marina binary must not: envtest's init alone makes a
// directory under $HOME or /tmp at every start, and panics in a read-only container such as marina router's.
const (
	supervisorBinary  = "marina-sandbox"
	prepareCommand    = "prepare"
	superviseCommand  = "supervise"
	supervisorPackage = "./cmd/marina-sandbox"
)

// DefaultDir is the state directory without --dir: sandbox under the hack/ scripts' cache (~/.cache/marina).
func DefaultDir() (string, error) {
	cache, err := source.CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "sandbox"), nil
}

// ReadState reads the state directory's state.json; without one it returns ErrNotRunning.
func ReadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("%w (no %s in %s)", ErrNotRunning, StateFile, dir)
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w (remove the file if no sandbox runs)", filepath.Join(dir, StateFile), err)
	}
	return s, nil
}

// Running reports whether the supervisor that wrote s still runs (and is a sandbox supervisor, not a process that
// got its pid later).
func (s State) Running() bool {
	if s.PID <= 0 || syscall.Kill(s.PID, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.PID))
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	i := slices.IndexFunc(args, func(a string) bool { return filepath.Base(a) == supervisorBinary })
	return i >= 0 && i+1 < len(args) && args[i+1] == superviseCommand
}

// Exited reports whether the process pid has exited: it is gone, or a zombie its parent (init, for a supervisor
// whose up has returned) has not reaped yet, which holds nothing any more.
func Exited(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) S …: the state follows the last ')', comm may hold any character.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}

// WriteState writes state.json atomically (a reader never sees half of it).
func WriteState(dir string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, StateFile))
}

// LockDir takes the state directory's lock, held while the supervisor runs: a second sandbox on the same state
// directory is refused, not started twice.
func LockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%w with state directory %s", ErrAlreadyRunning, dir)
	}
	return func() { _ = f.Close() }, nil
}

// DemoModel is the model `marina sandbox demo` rolls out: up puts it behind marina router, with a shadow rollout
// gated by the built-in shadow-agreement analysis, in staging.
const DemoModel = "iris-classifier"
