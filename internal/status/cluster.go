package status

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/project"
)

// Sync states of an environment's cluster view against Git.
const (
	// InSync means Git's version runs, ready, and nothing else does.
	InSync = "in-sync"
	// Progressing means Git's version is there but not ready yet, or other versions still run.
	Progressing = "progressing"
	// OutOfSync means Git's version runs nowhere: the GitOps engine has not applied it.
	OutOfSync = "out-of-sync"
	// Missing means nothing of the model runs in the environment's namespace.
	Missing = "missing"
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

// Running is what the cluster runs for a model's environment.
type Running struct {
	// Sync compares it with Git: InSync, Progressing, OutOfSync or Missing.
	Sync      string     `json:"sync"`
	Workloads []Workload `json:"workloads"`
}

// Workload is one object that runs a version: a Deployment, a ModelDeployment or an InferenceService. A Workload
// without a Name says in Message why its kind could not be read.
type Workload struct {
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	Version       string `json:"version"`
	Ready         bool   `json:"ready"`
	Replicas      *int32 `json:"replicas,omitempty"`
	ReadyReplicas *int32 `json:"readyReplicas,omitempty"`
	Message       string `json:"message,omitempty"`
	// Router is set on marina router's Deployment (backend marina with a router), which runs no version itself.
	Router bool `json:"router,omitempty"`
}

// String is how marina status shows a workload: "1.0.0 2/2" for a Deployment (its version, ready and wanted
// replicas; "router 2/2" for marina router's), "ModelDeployment 1.1.0 ready" for a resource, the message for a kind that could not be read.
func (w Workload) String() string {
	version := w.Version
	switch {
	case w.Router:
		version = "router"
	case version == "":
		version = "-"
	}
	switch {
	case w.Name == "":
		return w.Message
	case w.Replicas != nil:
		return fmt.Sprintf("%s %d/%d", version, *w.ReadyReplicas, *w.Replicas)
	case w.Ready:
		return w.Kind + " " + version + " ready"
	}
	return w.Kind + " " + version + " not ready"
}

// Cluster reads what runs in one cluster.
type Cluster struct {
	client client.Client
	host   string
}

// NewCluster returns a Cluster reading through cfg, whose Timeout bounds each request.
func NewCluster(cfg *rest.Config) (*Cluster, error) {
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		return nil, err
	}
	return &Cluster{client: c, host: cfg.Host}, nil
}

// Read sets each row's Cluster to what runs in its environment's namespace: the objects render emitted for that
// model and environment, found by their labels, with the version they run and whether they are ready. Rows without
// an environment are left alone.
func (c *Cluster) Read(ctx context.Context, rows []Row) error {
	for i := range rows {
		row := &rows[i]
		if row.Environment == "" {
			continue
		}
		ws, err := c.workloads(ctx, row.Namespace, row.Model, row.Environment, row.backend)
		if err != nil {
			return fmt.Errorf("reading %s/%s from the cluster at %s: %w", row.Model, row.Environment, c.host, err)
		}
		row.Cluster = &Running{Sync: syncState(row.Version, ws), Workloads: ws}
	}
	return nil
}

// workloads lists the Deployments of the model's environment (plain backend, or the controller's per-version
// Deployments) and the custom resource of its backend.
func (c *Cluster) workloads(ctx context.Context, namespace, name, env, backend string) ([]Workload, error) {
	sel := client.MatchingLabels{v1alpha1.LabelModel: name, v1alpha1.LabelEnvironment: env}
	var deps appsv1.DeploymentList
	if err := c.client.List(ctx, &deps, client.InNamespace(namespace), sel); err != nil {
		return nil, err
	}
	out := []Workload{}
	if gvk, ok := backendResourceKinds[backend]; ok {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		err := c.client.List(ctx, list, client.InNamespace(namespace), sel)
		switch {
		case meta.IsNoMatchError(err):
			out = append(out, Workload{Kind: gvk.Kind, Message: fmt.Sprintf("the %s CRD is not installed (backend: %s)", gvk.GroupKind(), backend)})
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
func deploymentWorkload(d *appsv1.Deployment) Workload {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	ready := d.Status.ReadyReplicas
	w := Workload{Kind: "Deployment", Name: d.Name, Version: d.Labels[v1alpha1.LabelVersion], Replicas: &want, ReadyReplicas: &ready,
		Router: d.Labels[v1alpha1.LabelRouter] != ""}
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
func resourceWorkload(u *unstructured.Unstructured) Workload {
	w := Workload{Kind: u.GetKind(), Name: u.GetName(), Version: u.GetLabels()[v1alpha1.LabelVersion], Message: "no Ready condition yet"}
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
func syncState(version string, ws []Workload) string {
	runs, found, others, notReady := false, false, false, false
	for _, w := range ws {
		if w.Name == "" {
			continue
		}
		runs = true
		if w.Version == version {
			found = true
		} else if w.Kind == "Deployment" && !w.Router {
			others = true
		}
		if !w.Ready {
			notReady = true
		}
	}
	switch {
	case !runs:
		return Missing
	case !found:
		return OutOfSync
	case others || notReady:
		return Progressing
	}
	return InSync
}
