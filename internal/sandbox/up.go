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
	"strings"
	"syscall"
	"time"
)

// Up starts a sandbox as o says: it builds the supervisor (cmd/marina-sandbox of o.Source), which runs the hack/
// scripts (building what is missing, with an estimate up front) with its progress shown on out, then starts it
// detached, shows its progress and returns the state once everything is Ready. When ctx ends first (Ctrl-C) it
// stops the supervisor, which tears down what it had started.
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
	supervisor, err := buildSupervisor(ctx, o, out)
	if err != nil {
		return State{}, err
	}
	prepare := exec.CommandContext(ctx, supervisor, prepareCommand)
	prepare.Dir = o.Source
	var env bytes.Buffer
	prepare.Stdout, prepare.Stderr = &env, out
	if err := prepare.Run(); err != nil {
		return State{}, fmt.Errorf("%s %s (in %s): %w", supervisor, prepareCommand, o.Source, err)
	}
	log, err := os.OpenFile(filepath.Join(o.Dir, LogFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return State{}, err
	}
	defer func() { _ = log.Close() }()
	args := []string{superviseCommand, "--dir", o.Dir, "--marina", o.Marina}
	if o.Repo != "" {
		args = append(args, "--repo", o.Repo)
	}
	cmd := exec.Command(supervisor, args...)
	cmd.Dir = o.Source
	// prepare prints a NAME=PATH line per asset; a path may hold spaces (MARINA_CACHE), so split on lines only.
	lines := strings.FieldsFunc(env.String(), func(r rune) bool { return r == '\n' })
	cmd.Env = append(append(os.Environ(), lines...), "MARINA_REQUIRE_ASSETS=1")
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
	fmt.Fprintf(out, "Supervisor started (pid %d); log: %s\n", cmd.Process.Pid, filepath.Join(o.Dir, LogFile))
	return follow(ctx, o.Dir, cmd.Process.Pid, exited, out)
}

// buildSupervisor builds cmd/marina-sandbox of the source tree into the state directory with the go command, as
// make build builds marina (seconds once Go's build cache holds it), and returns its path.
func buildSupervisor(ctx context.Context, o Options, out io.Writer) (string, error) {
	bin := filepath.Join(o.Dir, supervisorBinary)
	fmt.Fprintf(out, "%sgo build -o %s %s\n", ProgressPrefix, bin, supervisorPackage)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, supervisorPackage)
	cmd.Dir = o.Source
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the sandbox's supervisor (go build %s in %s): %w", supervisorPackage, o.Source, err)
	}
	return bin, nil
}

// follow shows the supervisor's progress lines from its log until the state says Ready, or the supervisor exits
// (the start failed), or ctx ends (then it stops the supervisor and waits for it).
func follow(ctx context.Context, dir string, pid int, exited <-chan struct{}, out io.Writer) (State, error) {
	logPath := filepath.Join(dir, LogFile)
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
			if p, ok := strings.CutPrefix(line, ProgressPrefix); ok {
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
