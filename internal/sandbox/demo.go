package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
)

// The model files `go run ./hack/genmodels` writes that the demo registers: v1 fitted again on fresh data (the
// good version) and a deliberately worse one.
const (
	goodModelFile = "iris-classifier-v1-retrained.onnx"
	badModelFile  = "iris-classifier-v2-worse.onnx"
)

// demoEnv is the environment the demo rolls out in: the one up puts behind the loop.
const demoEnv = "staging"

// DemoOptions say which sandbox the demo runs against and how long it may take.
type DemoOptions struct {
	// Dir is the sandbox's state directory.
	Dir string
	// Source is marina's source tree: hack/genmodels writes the versions the demo registers.
	Source string
	// Marina is the marina binary the demo runs, as a user would, in the sandbox's working clone.
	Marina string
	// Timeout bounds the whole demo.
	Timeout time.Duration
}

// demo is a running `marina sandbox demo`.
type demo struct {
	o   DemoOptions
	st  State
	c   client.Client
	key client.ObjectKey
	out io.Writer
}

// Demo runs marina's loop on the running sandbox and narrates it on out: it registers the next two versions of
// DemoModel (a good one and a worse one) in the sandbox's clone and pushes them to its registry, replays the
// model's evaluation rows through staging's endpoint, promotes the good one (shadow, analysis, promoted), then the
// worse one (shadow, analysis, abort, the revert the controller pushes to Git, Flux applying it, the good one
// alone again), pulls the clone and prints `marina history`. A second demo on the same sandbox takes the next
// free versions. It returns ErrNotRunning when no sandbox runs, and an error saying what it waited for and the
// last status when a step does not happen within o.Timeout.
func Demo(ctx context.Context, o DemoOptions, out io.Writer) error {
	st, err := Status(o.Dir)
	if err != nil {
		return err
	}
	if st.Phase != PhaseReady {
		return fmt.Errorf("%w: the sandbox is %s, not ready: wait for `marina sandbox up` to return (log: %s)", ErrNotRunning, st.Phase, st.Log)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	d := &demo{o: o, st: st, out: out}
	if err := d.connect(ctx); err != nil {
		return err
	}
	began := time.Now()
	if err := d.run(ctx); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w (the demo's --timeout %s is up)", err, o.Timeout)
		}
		return err
	}
	d.say("The loop closed in %s.", time.Since(began).Round(time.Second))
	return nil
}

// connect finds staging's ModelDeployment of DemoModel and checks it runs the loop and no rollout is under way.
func (d *demo) connect(ctx context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", d.st.Kubeconfig)
	if err != nil {
		return fmt.Errorf("the sandbox's kubeconfig %s: %w", d.st.Kubeconfig, err)
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), v1alpha1.AddToScheme(scheme)); err != nil {
		return err
	}
	if d.c, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("the sandbox's API server: %w", err)
	}
	var mds v1alpha1.ModelDeploymentList
	if err := d.c.List(ctx, &mds, client.MatchingLabels{v1alpha1.LabelModel: DemoModel, v1alpha1.LabelEnvironment: demoEnv}); err != nil {
		return fmt.Errorf("listing the sandbox's ModelDeployments: %w", err)
	}
	if len(mds.Items) != 1 {
		return fmt.Errorf("the sandbox runs %d ModelDeployments of %s in %s, want 1: the demo needs the example repository's %s, which up puts on backend marina (was the sandbox started with --repo, or by an older marina? `marina sandbox down`, then up)",
			len(mds.Items), DemoModel, demoEnv, DemoModel)
	}
	md := &mds.Items[0]
	d.key = client.ObjectKeyFromObject(md)
	if s := md.Spec.Strategy; s == nil || s.Shadow == nil || md.Spec.Analysis == nil || md.Spec.GitWriteBack == nil {
		return fmt.Errorf("ModelDeployment %s rolls out without the shadow strategy, analysis and write-back the demo shows (was the sandbox started by an older marina? `marina sandbox down`, then up)", d.key)
	}
	if md.Status.CanaryVersion != "" {
		return fmt.Errorf("a rollout of %s@%s is under way in %s (%s): wait until it ends, then run the demo again",
			DemoModel, md.Status.CanaryVersion, demoEnv, summary(md))
	}
	return nil
}

func (d *demo) run(ctx context.Context) error {
	stable, good, bad, err := d.versions(ctx)
	if err != nil {
		return err
	}
	d.say("%s in %s runs %s behind marina router. The demo registers %s (v1 fitted again on fresh data) and %s (a deliberately worse model), and rolls both out by shadow, gated by the shadow-agreement analysis.",
		DemoModel, demoEnv, stable, good, bad)
	files, err := os.MkdirTemp("", "marina-sandbox-demo-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(files) }()
	if err := d.command(ctx, d.o.Source, "go", "run", "./hack/genmodels", "-out", files); err != nil {
		return err
	}
	for _, v := range []struct{ version, file string }{{good, goodModelFile}, {bad, badModelFile}} {
		if err := d.marina(ctx, "model", "register", DemoModel, "--version", v.version, "--file", filepath.Join(files, v.file),
			"--push", "--to", d.st.Registry+"/models/"+DemoModel, "--plain-http"); err != nil {
			return err
		}
	}
	set, err := EvalRows(d.st.Clone, DemoModel)
	if err != nil {
		return err
	}
	endpoint := d.st.Endpoints[DemoModel+"/"+demoEnv]
	if endpoint == "" {
		return fmt.Errorf("the sandbox has no endpoint for %s/%s (status lists %d)", DemoModel, demoEnv, len(d.st.Endpoints))
	}
	load := StartReplay(endpoint, DemoModel, set)
	d.say("Replaying the %d rows of %s's evaluation set through %s: %d rows a request, %d requests a second.",
		len(set.X), DemoModel, endpoint, ReplayBatch, time.Second/ReplayInterval)
	err = d.rollOutGood(ctx, good)
	if err == nil {
		err = d.rollOutBad(ctx, good, bad)
	}
	d.say("Load: %s.", load.Stop())
	if err != nil {
		return err
	}
	if err := d.command(ctx, d.st.Clone, "git", "pull", "-q", "--ff-only"); err != nil {
		return err
	}
	return d.marina(ctx, "history", DemoModel, "--env", demoEnv)
}

// versions returns staging's version and the next two free versions: the next minor after the latest registered
// one (blocked versions included: they stay registered), and the one after.
func (d *demo) versions(ctx context.Context) (stable, good, bad string, err error) {
	var md v1alpha1.ModelDeployment
	if err := d.c.Get(ctx, d.key, &md); err != nil {
		return "", "", "", err
	}
	cmd := exec.CommandContext(ctx, d.o.Marina, "model", "list", DemoModel, "-o", "json")
	cmd.Dir = d.st.Clone
	b, err := cmd.Output()
	if err != nil {
		return "", "", "", fmt.Errorf("marina model list %s -o json (in %s): %w", DemoModel, d.st.Clone, err)
	}
	good, bad, err = nextVersions(b)
	return md.Spec.Version, good, bad, err
}

// nextVersions reads `marina model list -o json` and returns the next two minor versions after the latest.
func nextVersions(list []byte) (string, string, error) {
	var versions []struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(list, &versions); err != nil {
		return "", "", fmt.Errorf("reading marina model list -o json: %w", err)
	}
	var latest *semver.Version
	for _, v := range versions {
		sv, err := semver.StrictNewVersion(v.Version)
		if err != nil {
			return "", "", fmt.Errorf("marina model list: version %q: %w", v.Version, err)
		}
		if latest == nil || sv.GreaterThan(latest) {
			latest = sv
		}
	}
	if latest == nil {
		return "", "", fmt.Errorf("%s has no registered version to roll out from", DemoModel)
	}
	good := latest.IncMinor()
	bad := good.IncMinor()
	return good.String(), bad.String(), nil
}

// rollOutGood promotes the good version and follows it to promoted.
func (d *demo) rollOutGood(ctx context.Context, good string) error {
	d.say("1. Promote %s: a copy of each request goes to it, and its answers must agree with the live version's.", good)
	if err := d.promote(ctx, good); err != nil {
		return err
	}
	n := newNarrator(good)
	md, err := d.follow(ctx, n, good+" promoted", func(md *v1alpha1.ModelDeployment) (bool, error) {
		if md.Status.CanaryVersion == good && md.Status.AbortMessage != "" {
			return false, fmt.Errorf("the rollout of %s, the good version, was aborted: %s", good, md.Status.AbortMessage)
		}
		return promoted(md, good), nil
	})
	d.say("%s", d.compared(ctx, d.key.Namespace, good))
	if err != nil {
		return err
	}
	d.say("promoted: %s serves alone (%s)", good, readyMessage(md))
	return nil
}

// rollOutBad promotes the worse version and follows it to the abort, the revert in Git, Flux applying it and the
// good version alone again.
func (d *demo) rollOutBad(ctx context.Context, good, bad string) error {
	var md v1alpha1.ModelDeployment
	if err := d.c.Get(ctx, d.key, &md); err != nil {
		return err
	}
	before := ""
	if c := writeBackCondition(&md); c != nil {
		before = c.Message
	}
	d.say("2. Promote %s the same way.", bad)
	if err := d.promote(ctx, bad); err != nil {
		return err
	}
	n := newNarrator(bad)
	var commit string
	_, err := d.follow(ctx, n, bad+" aborted and its revert written to Git by marina controller", func(md *v1alpha1.ModelDeployment) (bool, error) {
		if promoted(md, bad) {
			return false, fmt.Errorf("%s, the worse version, was promoted: the shadow-agreement analysis let it through", bad)
		}
		var ok bool
		commit, ok = writtenBack(md, before)
		return ok && md.Status.AbortMessage != "", nil
	})
	d.say("%s", d.compared(ctx, d.key.Namespace, bad))
	if err != nil {
		return err
	}
	if err := d.command(ctx, d.st.Clone, "git", "fetch", "-q", "origin"); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "git", "-C", d.st.Clone, "log", "-1", "--format=%H%n%an%n%s", commit).Output()
	lines := strings.SplitN(strings.TrimSpace(string(out)), "\n", 3)
	if err != nil || len(lines) != 3 {
		return fmt.Errorf("the revert commit %s marina controller reports is not on the Git server %s: %v", commit, d.st.Git, err)
	}
	full := lines[0]
	d.say("revert pushed to %s by %s: %s %q", d.st.Git, lines[1], full[:12], lines[2])
	if err := d.wait(ctx, "Flux applies the revert "+full[:12], func(ctx context.Context) (bool, string) {
		return FluxApplied(ctx, d.c, full)
	}); err != nil {
		return err
	}
	d.say("Flux applied the revert: %s is back to %s in Git and in the cluster", demoEnv, good)
	md2, err := d.follow(ctx, n, good+" alone again", func(md *v1alpha1.ModelDeployment) (bool, error) {
		return promoted(md, good), nil
	})
	if err != nil {
		return err
	}
	d.say("%s serves alone again (%s)", good, readyMessage(md2))
	return nil
}

// promote runs marina promote with --push in the clone. --force: the versions were registered without measured
// metrics (register --evaluate needs ONNX Runtime, which a CGO_ENABLED=0 marina lacks), so the example's quality
// gates would refuse them; the commit records it in its Marina-Forced trailer. The shadow analysis is the gate here.
func (d *demo) promote(ctx context.Context, version string) error {
	return d.marina(ctx, "promote", DemoModel+"@"+version, "--env", demoEnv, "--push", "--force")
}

// follow polls the ModelDeployment, narrating with n, until done says so or fails, or ctx ends.
func (d *demo) follow(ctx context.Context, n *narrator, what string, done func(*v1alpha1.ModelDeployment) (bool, error)) (*v1alpha1.ModelDeployment, error) {
	md := &v1alpha1.ModelDeployment{}
	var doneErr error
	err := d.wait(ctx, what, func(ctx context.Context) (bool, string) {
		if err := d.c.Get(ctx, d.key, md); err != nil {
			return false, err.Error()
		}
		for _, l := range n.tell(md) {
			d.say("%s", l)
		}
		ok, err := done(md)
		if err == nil {
			err = pausedOn(md, n.version)
		}
		if err != nil {
			doneErr = err
			return true, ""
		}
		return ok, summary(md)
	})
	if doneErr != nil {
		return md, doneErr
	}
	return md, err
}

// wait polls cond every half second until it holds or ctx ends; then it says what it waited for and what cond
// last said.
func (d *demo) wait(ctx context.Context, what string, cond func(context.Context) (bool, string)) error {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond(ctx)
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w; last seen: %s", what, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// marina runs this marina in the sandbox's clone, showing the command and its output.
func (d *demo) marina(ctx context.Context, args ...string) error {
	return d.command(ctx, d.st.Clone, d.o.Marina, args...)
}

// command runs a command in dir, showing it and its output.
func (d *demo) command(ctx context.Context, dir, name string, args ...string) error {
	shown := name
	if name == d.o.Marina {
		shown = "marina"
	}
	fmt.Fprintf(d.out, "$ %s %s\n", shown, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if len(out) > 0 {
		fmt.Fprintf(d.out, "%s\n", strings.TrimRight(string(out), "\n"))
	}
	if err != nil {
		return fmt.Errorf("%s %s (in %s): %w", shown, strings.Join(args, " "), dir, err)
	}
	return nil
}

// say narrates one line, timestamped.
func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
