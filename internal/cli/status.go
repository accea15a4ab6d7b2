package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/repo"
)

// Sync states of an environment's cluster view against Git.
const (
	syncInSync      = "in-sync"
	syncProgressing = "progressing"
	syncOutOfSync   = "out-of-sync"
	syncMissing     = "missing"
)

// The custom resources render emits for the kserve and marina backends, read without their Go types.
var (
	modelDeploymentGVK   = schema.GroupVersionKind{Group: "marina.dev", Version: "v1alpha1", Kind: "ModelDeployment"}
	inferenceServiceGVK  = schema.GroupVersionKind{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService"}
	backendResourceKinds = map[string]schema.GroupVersionKind{
		project.BackendMarina: modelDeploymentGVK,
		project.BackendKServe: inferenceServiceGVK,
	}
)

type statusOptions struct {
	*globalOptions
	kube    kubeOptions
	env     string
	model   string
	cluster bool
	timeout time.Duration
}

func (o *statusOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.env, "env", "", "only this environment (default: every environment in marina.yaml)")
	fs.BoolVar(&o.cluster, "cluster", false, "also show what the cluster runs, with the current kubeconfig context (implied by --kubeconfig, --context and -n)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Second, "time limit of each request to the API server")
	o.kube.AddFlags(fs)
}

func (o *statusOptions) Validate() error {
	if o.model != "" {
		if err := registry.CheckName(o.model); err != nil {
			return usagef("%v", err)
		}
	}
	if o.timeout <= 0 {
		return usagef("--timeout %s: use a positive duration, e.g. 15s", o.timeout)
	}
	return nil
}

// statusRow is one model in one environment: what Git says, and with a cluster what runs.
type statusRow struct {
	Model       string `json:"model"`
	Environment string `json:"environment,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	// Version is the environment's version in model.yaml; empty for a registered model no environment deploys.
	Version string `json:"version,omitempty"`
	// State is the version's registry state, or "unregistered" when models/ has no metadata for it.
	State      string          `json:"state,omitempty"`
	LastChange *release.Change `json:"lastChange,omitempty"`
	// Blocked lists the model's blocked versions.
	Blocked []string       `json:"blocked"`
	Cluster *clusterStatus `json:"cluster,omitempty"`

	backend string
}

// clusterStatus is what the cluster runs for a model's environment.
type clusterStatus struct {
	// Sync compares it with Git: in-sync, progressing (Git's version is there but not ready yet, or other
	// versions still run), out-of-sync (Git's version runs nowhere) or missing (nothing of the model runs).
	Sync      string     `json:"sync"`
	Workloads []workload `json:"workloads"`
}

// workload is one object that runs a version: a Deployment, a ModelDeployment or an InferenceService.
type workload struct {
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	Version       string `json:"version"`
	Ready         bool   `json:"ready"`
	Replicas      *int32 `json:"replicas,omitempty"`
	ReadyReplicas *int32 `json:"readyReplicas,omitempty"`
	Message       string `json:"message,omitempty"`
}

// statusReport is what -o json|yaml prints.
type statusReport struct {
	Models []statusRow `json:"models"`
}

func (o *statusOptions) Run(ctx context.Context) error {
	return o.read(func(r *repo.Repo, p *printer) error {
		rows, envs, err := o.gitRows(r)
		if err != nil {
			return err
		}
		if o.cluster {
			if err := o.clusterRows(ctx, rows, envs); err != nil {
				return err
			}
		}
		return p.print(statusReport{Models: rows}, o.table(rows))
	})
}

// gitRows reads marina.yaml, every model.yaml, models/ and the history of each model.yaml.
func (o *statusOptions) gitRows(r *repo.Repo) ([]statusRow, map[string]project.Environment, error) {
	proj, err := project.Load(r)
	if err != nil {
		return nil, nil, err
	}
	envs := map[string]project.Environment{}
	for _, e := range proj.Spec.Environments {
		if (o.env == "" || e.Name == o.env) && (o.kube.namespace == "" || e.Namespace == o.kube.namespace) {
			envs[e.Name] = e
		}
	}
	if o.env != "" {
		if _, ok := proj.Environment(o.env); !ok {
			return nil, nil, usagef("--env %q is not an environment of %s: use one of %s", o.env, project.ProjectFile, strings.Join(proj.EnvironmentNames(), ", "))
		}
	}
	if len(envs) == 0 {
		return nil, nil, usagef("-n %s: no environment of %s deploys to it (with --env %q)", o.kube.namespace, project.ProjectFile, o.env)
	}
	apps, err := render.Applications(r)
	if err != nil {
		return nil, nil, err
	}
	reg := &registry.Registry{Repo: r}
	registered, problems, err := reg.Models()
	if err != nil {
		return nil, nil, err
	}
	if len(problems) > 0 {
		return nil, nil, problems[0]
	}
	names := slices.Clone(apps)
	for _, n := range registered {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if o.model != "" {
		if !slices.Contains(names, o.model) {
			return nil, nil, failedf("model %q: neither %s nor %s/%s/ exists (marina model list shows the registered models)", o.model, project.ApplicationPath(o.model), model.Dir, o.model)
		}
		names = []string{o.model}
	}
	var rows []statusRow
	for _, name := range names {
		modelRows, err := o.modelRows(r, reg, proj, name, slices.Contains(apps, name), envs)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, modelRows...)
	}
	if rows == nil {
		rows = []statusRow{}
	}
	return rows, envs, nil
}

// modelRows is one row per environment the model deploys to, or one row without an environment for a model that
// is registered but deployed nowhere.
func (o *statusOptions) modelRows(r *repo.Repo, reg *registry.Registry, proj *project.Project, name string, deployed bool, envs map[string]project.Environment) ([]statusRow, error) {
	versions, err := reg.List(name)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return nil, err
	}
	blocked := []string{}
	states := map[string]string{}
	for _, v := range versions {
		states[v.Version] = v.State
		if v.State == model.StateBlocked {
			blocked = append(blocked, v.Version)
		}
	}
	if !deployed {
		if o.env != "" || o.kube.namespace != "" {
			return nil, nil
		}
		return []statusRow{{Model: name, Blocked: blocked}}, nil
	}
	app, _, err := project.LoadApplication(r, name)
	if err != nil {
		return nil, err
	}
	changes, err := release.History(r, name, "")
	if err != nil {
		return nil, fmt.Errorf("%s: reading its history: %w", project.ApplicationPath(name), err)
	}
	var rows []statusRow
	for _, env := range proj.Spec.Environments {
		if _, ok := envs[env.Name]; !ok {
			continue
		}
		settings, ok := app.Spec.Resolve(env.Name)
		if !ok {
			continue
		}
		row := statusRow{Model: name, Environment: env.Name, Namespace: env.Namespace, Version: settings.Version, State: states[settings.Version], Blocked: blocked, backend: app.Spec.BackendName()}
		if row.State == "" {
			row.State = "unregistered"
		}
		for i := range changes {
			if changes[i].Environment == env.Name {
				row.LastChange = &changes[i]
				break
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// clusterRows adds to each row what the cluster runs in the environment's namespace: the objects render emitted for
// that model and environment, found by their labels, with the version they run and whether they are ready.
func (o *statusOptions) clusterRows(ctx context.Context, rows []statusRow, envs map[string]project.Environment) error {
	cfg, _, err := o.kube.restConfig()
	if err != nil {
		return err
	}
	cfg.Timeout = o.timeout
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		return usagef("kubeconfig: %v", err)
	}
	for i := range rows {
		row := &rows[i]
		if row.Environment == "" {
			continue
		}
		ws, err := workloads(ctx, c, envs[row.Environment].Namespace, row.Model, row.Environment, row.backend)
		if err != nil {
			return usagef("reading %s/%s from the cluster at %s: %v", row.Model, row.Environment, cfg.Host, err)
		}
		row.Cluster = &clusterStatus{Sync: syncState(row.Version, ws), Workloads: ws}
	}
	return nil
}

// workloads lists the Deployments of the model's environment (plain backend, or the controller's per-version
// Deployments) and the custom resource of its backend.
func workloads(ctx context.Context, c client.Client, namespace, name, env, backend string) ([]workload, error) {
	sel := client.MatchingLabels{v1alpha1.LabelModel: name, v1alpha1.LabelEnvironment: env}
	var deps appsv1.DeploymentList
	if err := c.List(ctx, &deps, client.InNamespace(namespace), sel); err != nil {
		return nil, err
	}
	out := []workload{}
	if gvk, ok := backendResourceKinds[backend]; ok {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		err := c.List(ctx, list, client.InNamespace(namespace), sel)
		switch {
		case meta.IsNoMatchError(err):
			out = append(out, workload{Kind: gvk.Kind, Message: fmt.Sprintf("the %s CRD is not installed (backend: %s)", gvk.GroupKind(), backend)})
		case err != nil:
			return nil, err
		default:
			for i := range list.Items {
				out = append(out, resourceWorkload(&list.Items[i]))
			}
		}
	}
	for i := range deps.Items {
		out = append(out, deploymentWorkload(&deps.Items[i]))
	}
	return out, nil
}

// deploymentWorkload judges a Deployment as kubectl rollout status does: the controller saw the latest spec, every
// replica is updated, and all of them are available.
func deploymentWorkload(d *appsv1.Deployment) workload {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	ready := d.Status.ReadyReplicas
	w := workload{Kind: "Deployment", Name: d.Name, Version: d.Labels[v1alpha1.LabelVersion], Replicas: &want, ReadyReplicas: &ready}
	switch {
	case d.Status.ObservedGeneration < d.Generation:
		w.Message = "the Deployment controller has not seen the latest spec yet"
	case d.Status.UpdatedReplicas < want:
		w.Message = fmt.Sprintf("%d of %d replicas updated", d.Status.UpdatedReplicas, want)
	case d.Status.AvailableReplicas < want:
		w.Message = fmt.Sprintf("%d of %d replicas available", d.Status.AvailableReplicas, want)
	default:
		w.Ready = true
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			w.Message = c.Message
		}
	}
	return w
}

// resourceWorkload reads a ModelDeployment or InferenceService: its version label, and its Ready condition
// (both publish kstatus-style conditions).
func resourceWorkload(u *unstructured.Unstructured) workload {
	w := workload{Kind: u.GetKind(), Name: u.GetName(), Version: u.GetLabels()[v1alpha1.LabelVersion], Message: "no Ready condition yet"}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Ready" {
			continue
		}
		w.Ready = m["status"] == "True"
		w.Message = ""
		if !w.Ready {
			w.Message = strings.TrimSpace(fmt.Sprintf("%v: %v", m["reason"], m["message"]))
		}
	}
	return w
}

// syncState compares what runs with the version Git names.
func syncState(version string, ws []workload) string {
	found, others, notReady := false, false, false
	for _, w := range ws {
		if w.Name == "" {
			continue
		}
		if w.Version == version {
			found = true
		} else if w.Kind == "Deployment" {
			others = true
		}
		if !w.Ready {
			notReady = true
		}
	}
	switch {
	case !found && !others && !notReady:
		return syncMissing
	case !found:
		return syncOutOfSync
	case others || notReady:
		return syncProgressing
	}
	return syncInSync
}

func (o *statusOptions) table(rows []statusRow) table {
	t := table{header: []string{"MODEL", "ENV", "VERSION", "STATE", "CHANGED", "BY", "BLOCKED"}}
	if o.cluster {
		t.header = append(t.header, "CLUSTER", "RUNNING")
	}
	for _, r := range rows {
		changed, by := "-", "-"
		if c := r.LastChange; c != nil {
			changed, by = c.Time.Format("2006-01-02 15:04"), c.Author
			if i := strings.Index(by, " <"); i > 0 {
				by = by[:i]
			}
		}
		cells := []string{r.Model, dash(r.Environment), dash(r.Version), dash(r.State), changed, by, dash(strings.Join(r.Blocked, ","))}
		if o.cluster {
			cells = append(cells, "-", "-")
			if c := r.Cluster; c != nil {
				cells[len(cells)-2], cells[len(cells)-1] = c.Sync, running(c.Workloads)
			}
		}
		t.rows = append(t.rows, cells)
	}
	return t
}

// running is the table cell of what runs: "1.0.0 2/2" per Deployment, "ModelDeployment 1.1.0 ready" per resource.
func running(ws []workload) string {
	var parts []string
	for _, w := range ws {
		switch {
		case w.Name == "":
			parts = append(parts, w.Message)
		case w.Replicas != nil:
			parts = append(parts, fmt.Sprintf("%s %d/%d", dash(w.Version), *w.ReadyReplicas, *w.Replicas))
		case w.Ready:
			parts = append(parts, w.Kind+" "+dash(w.Version)+" ready")
		default:
			parts = append(parts, w.Kind+" "+dash(w.Version)+" not ready")
		}
	}
	return dash(strings.Join(parts, ", "))
}

func newStatusCommand(g *globalOptions) *cobra.Command {
	o := &statusOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "status [MODEL]",
		Short: "Show every model in every environment on one screen: what Git says, and what the cluster runs",
		Long: `status lists each model in each environment of marina.yaml: the version model.yaml
names, its state in the registry (registered, active, blocked, archived), the last
change of that environment's version from Git (time and author) and the model's
blocked versions. A registered model that no environment deploys has a row without one.

With --cluster, --kubeconfig, --context or -n it also reads the cluster: the objects
render emitted for the model and environment (found by their marina.dev/model and
marina.dev/environment labels: Deployments, and the ModelDeployment or InferenceService
of the marina and kserve backends), the version each runs and whether it is ready, and
compares them with Git:

  in-sync      Git's version runs, ready, and nothing else does
  progressing  Git's version is there but not ready yet, or other versions still run
  out-of-sync  Git's version runs nowhere: the GitOps engine has not applied it
  missing      nothing of the model runs in the environment's namespace

-n limits the rows to the environments that deploy to that namespace. Exit 0 when the
report was printed, 1 for an unknown MODEL, 2 on usage errors or an unreachable cluster.`,
		Example: `  # Every model in every environment, from Git
  marina status

  # One model, next to what the staging cluster runs
  marina status iris-classifier --context staging-cluster

  # As JSON for a script: the models whose prod is not in sync
  marina status --cluster -o json | jq '.models[] | select(.environment == "prod" and .cluster.sync != "in-sync")'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			for _, f := range []string{"kubeconfig", "context", "namespace"} {
				o.cluster = o.cluster || c.Flags().Changed(f)
			}
			return runE(o, func(args []string) {
				if len(args) == 1 {
					o.model = args[0]
				}
			})(c, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
