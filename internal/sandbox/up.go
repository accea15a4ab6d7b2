package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/marina-dev/marina/internal/testenv"
)

// build is a hack/ script whose output the supervisor needs: env is the variable its last line goes into.
type build struct {
	asset testenv.Asset
	env   string
}

// builds are the hack/ scripts up runs, in order (as make e2e does); each is instant once its asset is cached.
var builds = []build{
	{testenv.ControlPlaneAsset, testenv.ControlPlaneAsset.Env},
	{testenv.Asset{Script: "hack/crds.sh", Cost: "~1 min once", Sub: "crds", Probe: "."}, "MARINA_CRDS_DIR"},
	{testenv.Asset{Script: "hack/registry.sh", Cost: "~3 min once", Sub: filepath.Join("registry", testenv.RegistryVersion),
		Probe: "registry"}, "MARINA_REGISTRY_BIN"},
	{testenv.NodeAsset, testenv.NodeAsset.Env},
	{testenv.FluxAsset, testenv.FluxAsset.Env},
	{testenv.Asset{Script: "hack/onnxruntime.sh", Cost: "~1 min once (a 113 MB download)", Sub: "onnxruntime", Probe: "."}, ""},
	{testenv.Asset{Script: "hack/prometheus.sh", Cost: "~1 min once (apt-get install prometheus)"}, ""},
}

// Up starts a sandbox as o says: it runs the hack/ scripts of o.Source (building what is missing, with an
// estimate up front), re-executes o.Marina detached as the supervisor, shows its progress on out and returns the
// state once everything is Ready. When ctx ends first (Ctrl-C) it stops the supervisor, which tears down what it
// had started.
func Up(ctx context.Context, o Options, out io.Writer) (State, error) {
	if os.Geteuid() != 0 {
		return State{}, ErrNotRoot
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return State{}, err
	}
	if st, err := ReadState(o.Dir); err == nil && st.Running() {
		return State{}, fmt.Errorf("%w (supervisor pid %d, state directory %s): see `marina sandbox status`, or stop it with `marina sandbox down`",
			ErrAlreadyRunning, st.PID, o.Dir)
	}
	env, err := runBuilds(ctx, o.Source, out)
	if err != nil {
		return State{}, err
	}
	log, err := os.OpenFile(filepath.Join(o.Dir, logFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return State{}, err
	}
	defer func() { _ = log.Close() }()
	args := []string{"sandbox", superviseCommand, "--dir", o.Dir}
	if o.Repo != "" {
		args = append(args, "--repo", o.Repo)
	}
	cmd := exec.Command(o.Marina, args...)
	cmd.Dir = o.Source
	cmd.Env = append(append(os.Environ(), env...), "MARINA_REQUIRE_ASSETS=1")
	cmd.Stdout, cmd.Stderr = log, log
	// A session of its own: the supervisor outlives up and its terminal, and no Ctrl-C there reaches it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return State{}, fmt.Errorf("starting the sandbox's supervisor: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	fmt.Fprintf(out, "Supervisor started (pid %d); log: %s\n", cmd.Process.Pid, filepath.Join(o.Dir, logFile))
	return follow(ctx, o.Dir, cmd.Process.Pid, exited, out)
}

// runBuilds runs the hack/ scripts of source and returns the variables their last lines set. Before the first
// that must build, it says which will and about how long that takes.
func runBuilds(ctx context.Context, source string, out io.Writer) ([]string, error) {
	var missing []string
	minutes := 0
	for _, b := range builds {
		if b.asset.Sub != "" && !b.asset.Present() {
			missing = append(missing, b.asset.Script+" ("+b.asset.Cost+")")
			minutes += costMinutes(b.asset.Cost)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(out, "First run: building what the sandbox runs, about %d min on 2 cores: %s. Later runs reuse the cache and start in a few minutes.\n",
			minutes, strings.Join(missing, ", "))
	}
	var env []string
	for _, b := range builds {
		fmt.Fprintf(out, "%sbash %s\n", progressPrefix, b.asset.Script)
		cmd := exec.CommandContext(ctx, "bash", b.asset.Script)
		cmd.Dir = source
		var stdout, stderr bytes.Buffer
		cmd.Stdout = &stdout
		// What a script builds is worth watching; a cached asset prints only its path.
		cmd.Stderr = io.MultiWriter(&stderr, out)
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("bash %s (in %s): %w", b.asset.Script, source, err)
		}
		if b.env != "" {
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			env = append(env, b.env+"="+strings.TrimSpace(lines[len(lines)-1]))
		}
	}
	return env, nil
}

var minutesRE = regexp.MustCompile(`~(\d+) min`)

// costMinutes reads the minutes of an Asset's Cost ("~15 min once").
func costMinutes(cost string) int {
	m := minutesRE.FindStringSubmatch(cost)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// follow shows the supervisor's progress lines from its log until the state says Ready, or the supervisor exits
// (the start failed), or ctx ends (then it stops the supervisor and waits for it).
func follow(ctx context.Context, dir string, pid int, exited <-chan struct{}, out io.Writer) (State, error) {
	logPath := filepath.Join(dir, logFile)
	var offset int64
	show := func() {
		f, err := os.Open(logPath)
		if err != nil {
			return
		}
		defer func() { _ = f.Close() }()
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return
		}
		r := bufio.NewReader(f)
		for {
			line, err := r.ReadString('\n')
			if err != nil { // a line not yet complete is read again next time
				return
			}
			offset += int64(len(line))
			if p, ok := strings.CutPrefix(line, progressPrefix); ok {
				fmt.Fprint(out, p)
			}
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		show()
		st, err := ReadState(dir)
		if err == nil && st.PID == pid && st.Phase == PhaseReady {
			return st, nil
		}
		select {
		case <-exited:
			show()
			st, err := ReadState(dir)
			if err == nil && st.PID == pid && st.Error != "" {
				return st, fmt.Errorf("the sandbox did not start: %s\n(everything it had started is stopped again; the whole log: %s)", st.Error, logPath)
			}
			return st, fmt.Errorf("the sandbox's supervisor exited before the sandbox was up: see %s", logPath)
		case <-ctx.Done():
			fmt.Fprintln(out, "Interrupted: stopping what the sandbox had started…")
			_ = syscall.Kill(pid, syscall.SIGTERM)
			<-exited
			show()
			return State{}, errors.New("interrupted: the sandbox was stopped")
		case <-tick.C:
		}
	}
}

// Down stops the sandbox of the state directory and waits until its supervisor has torn everything down. When none
// runs it says so and returns nil: down is idempotent.
func Down(ctx context.Context, dir string, out io.Writer) error {
	st, err := ReadState(dir)
	if errors.Is(err, ErrNotRunning) || err == nil && !st.Running() {
		fmt.Fprintf(out, "No sandbox is running (state directory %s): nothing to stop.\n", dir)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Stopping the sandbox (supervisor pid %d)…\n", st.PID)
	if err := syscall.Kill(st.PID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping the supervisor (pid %d): %w", st.PID, err)
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !Exited(st.PID) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the supervisor (pid %d) is still tearing down: %w; its log: %s", st.PID, ctx.Err(), st.Log)
		case <-tick.C:
		}
	}
	fmt.Fprintln(out, "Stopped: every process of the sandbox has exited; its mounts, network namespaces, iptables rules and cgroups are removed.")
	return nil
}

// Status returns the state of the sandbox of the state directory, or ErrNotRunning (saying why the last start
// failed, if it did).
func Status(dir string) (State, error) {
	st, err := ReadState(dir)
	if err != nil {
		return st, err
	}
	if !st.Running() {
		if st.Error != "" {
			return st, fmt.Errorf("%w: the last start failed: %s (log: %s)", ErrNotRunning, st.Error, st.Log)
		}
		return st, fmt.Errorf("%w (state directory %s; its supervisor, pid %d, is gone)", ErrNotRunning, dir, st.PID)
	}
	return st, nil
}
