package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/doctor"
	"github.com/marina-dev/marina/internal/dryrun"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
)

type doctorOptions struct {
	*globalOptions
	kube    kubeOptions
	env     string
	timeout time.Duration
}

func (o *doctorOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.env, "env", "", "only check this environment (default: every environment in marina.yaml)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Second, "time limit of each request to the API server")
	o.kube.AddFlags(fs)
}

func (o *doctorOptions) Validate() error {
	if o.timeout <= 0 {
		return usagef("--timeout %s: use a positive duration, e.g. 15s", o.timeout)
	}
	return nil
}

// doctorReport is what -o json|yaml prints.
type doctorReport struct {
	Checks  []doctor.Check        `json:"checks"`
	Summary map[doctor.Status]int `json:"summary"`
}

func (o *doctorOptions) Run(ctx context.Context) error {
	return o.read(func(r *repo.Repo, p *printer) error {
		in, err := o.input(r)
		if err != nil {
			return err
		}
		checks := doctor.Run(ctx, in)
		rep := doctorReport{Checks: checks, Summary: map[doctor.Status]int{doctor.Pass: 0, doctor.Warn: 0, doctor.Fail: 0, doctor.Skip: 0}}
		t := table{header: []string{"STATUS", "CHECK", "TARGET", "EVIDENCE"}}
		for _, c := range checks {
			rep.Summary[c.Status]++
			t.rows = append(t.rows, []string{o.statusCell(c.Status), c.Name, dash(c.Target), c.Evidence})
			if c.Fix != "" && (c.Status == doctor.Fail || c.Status == doctor.Warn) {
				t.rows = append(t.rows, []string{"", "", "", "fix: " + c.Fix})
			}
		}
		if err := p.print(rep, t); err != nil {
			return err
		}
		if failed := doctor.Failed(checks); len(failed) > 0 {
			var names []string
			for _, c := range failed {
				names = append(names, strings.TrimSpace(c.Name+" "+c.Target))
			}
			return failedf("%d of %d checks failed: %s", len(failed), len(checks), strings.Join(names, ", "))
		}
		return nil
	})
}

// input loads the repository's project and applications and connects to the cluster.
func (o *doctorOptions) input(r *repo.Repo) (doctor.Input, error) {
	proj, err := project.Load(r)
	if err != nil {
		return doctor.Input{}, err
	}
	env := o.env
	if env != "" {
		if _, ok := proj.Environment(env); !ok {
			return doctor.Input{}, usagef("--env %q is not an environment of %s: use one of %s", env, project.ProjectFile, strings.Join(proj.EnvironmentNames(), ", "))
		}
	}
	if ns := o.kube.namespace; ns != "" {
		var match []string
		for _, e := range proj.Spec.Environments {
			if e.Namespace == ns && (env == "" || env == e.Name) {
				match = append(match, e.Name)
			}
		}
		if len(match) != 1 {
			return doctor.Input{}, usagef("-n %s: no single environment of %s deploys to it (with --env %q)", ns, project.ProjectFile, env)
		}
		env = match[0]
	}
	names, err := render.Applications(r)
	if err != nil {
		return doctor.Input{}, err
	}
	in := doctor.Input{Project: proj, Env: env, Sources: map[string]string{}}
	objs, _, err := dryrun.Collect(r, nil)
	if err != nil {
		return doctor.Input{}, err
	}
	for _, o := range objs {
		key := o.Object.GetKind() + "/" + o.Object.GetName()
		if ns := o.Object.GetNamespace(); ns != "" {
			key = o.Object.GetKind() + "/" + ns + "/" + o.Object.GetName()
		}
		in.Sources[key] = o.File
	}
	for _, n := range names {
		app, _, err := project.LoadApplication(r, n)
		if err != nil {
			return doctor.Input{}, err
		}
		in.Apps = append(in.Apps, app)
	}
	cfg, _, err := o.kube.restConfig()
	if err != nil {
		return doctor.Input{}, err
	}
	cfg.Timeout = o.timeout
	in.Server = cfg.Host
	if in.Client, err = client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme}); err != nil {
		return doctor.Input{}, usagef("kubeconfig: %v", err)
	}
	if in.Discovery, err = discovery.NewDiscoveryClientForConfig(cfg); err != nil {
		return doctor.Input{}, usagef("kubeconfig: %v", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return doctor.Input{}, usagef("kubeconfig: %v", err)
	}
	in.Logs = doctor.APILogs{Pods: cs.CoreV1()}
	return in, nil
}

// statusCell colours a status on a terminal.
func (o *doctorOptions) statusCell(s doctor.Status) string {
	if !o.colorEnabled() {
		return string(s)
	}
	code := map[doctor.Status]string{doctor.Pass: "32", doctor.Warn: "33", doctor.Fail: "31", doctor.Skip: "2"}[s]
	return fmt.Sprintf("\x1b[%sm%s\x1b[0m", code, s)
}

func newDoctorCommand(g *globalOptions) *cobra.Command {
	o := &doctorOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a live cluster against the model repository",
		Long: `doctor checks the cluster of your kubeconfig against the model repository, and says
for each check what it observed and how to fix what is wrong:

  api            the API server answers and runs Kubernetes 1.30 or newer
  crd            marina's ModelDeployment CRD is installed and Established
  controller     the marina controller runs, when an application uses backend: marina
  argocd, flux   the engines of marina.yaml are installed; their Applications, GitRepository
                 and Kustomizations for this repository are synced, healthy and Ready,
                 with the last sync error and the repository file of an object they
                 could not apply
  gpu            models that request nvidia.com/gpu have enough of it on nodes they may
                 run on (nodeSelector, taints), and none of their pods is Unschedulable
  device-plugin  the NVIDIA device plugin DaemonSet is ready on every GPU node
  hpa            HorizontalPodAutoscalers get their metrics (AbleToScale, ScalingActive)
  quota          each environment's ResourceQuota has room for the next rollout's surge
  pods           each model's pods pull their images, start, stay up and get Ready: the
                 kubelet's message for an image it cannot pull, a crashing container's
                 exit code and last words (its termination message, else the last line
                 of its log), a container that runs but never gets Ready with its
                 probe's failures from Events (a warning while within what its startup
                 probe allows), and pods that cannot be scheduled
  routes         a Gateway controller accepted each HTTPRoute and resolved its backends

Exit 0 when nothing failed (warnings allowed), 1 when a check failed (an unreachable API
server included: the other checks are then skipped), 2 on usage errors.`,
		Example: `  # Check every environment, with the current kubeconfig context
  marina doctor

  # Check staging on another cluster, as JSON for a script
  marina doctor --env staging --context staging-cluster -o json

  # The failed checks only
  marina doctor -o json | jq '.checks[] | select(.status == "fail")'`,
		Args: exactArgs(0, "no arguments"),
		RunE: runE(o, func([]string) {}),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
