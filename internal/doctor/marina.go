package doctor

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/project"
)

// CRDName is marina's ModelDeployment CustomResourceDefinition.
const CRDName = "modeldeployments.marina.dev"

// The marina controller's Deployment. marina init writes its namespace, ServiceAccount and RBAC under these names;
// the Deployment itself comes from marina's config/ install and uses the same name.
const (
	ControllerNamespace = project.SystemNamespace
	ControllerName      = project.ControllerName
)

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// checkCRD looks for marina's CRD and its Established condition.
func (d *doctor) checkCRD(ctx context.Context) []Check {
	c := Check{Name: CheckCRD, Target: CRDName}
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(crdGVK)
	err := d.Client.Get(ctx, client.ObjectKey{Name: CRDName}, crd)
	switch {
	case apierrors.IsNotFound(err):
		c.Status = Fail
		c.Evidence = "CustomResourceDefinition " + CRDName + " not found"
		c.Fix = "install marina's CRDs: kubectl apply -k config/crd (from marina's source), or sync the marina install your GitOps engine manages"
		return []Check{c}
	case err != nil:
		return []Check{readError(c, "CustomResourceDefinition "+CRDName, err)}
	}
	cond, found := condition(crd, "Established")
	switch {
	case found && cond.status == "True":
		c.Status = Pass
		c.Evidence = "CustomResourceDefinition " + CRDName + " is Established"
	default:
		c.Status = Fail
		c.Evidence = "CustomResourceDefinition " + CRDName + " is not Established" + cond.describe()
		c.Fix = "kubectl describe crd " + CRDName + " and fix what its conditions name (often a conflicting or invalid schema)"
	}
	return []Check{c}
}

// checkController looks for the controller Deployment when an application uses the marina backend.
func (d *doctor) checkController(ctx context.Context) []Check {
	c := Check{Name: CheckController, Target: ControllerNamespace + "/" + ControllerName}
	var users []string
	for _, dep := range d.deployments() {
		if dep.app.Spec.Backend == project.BackendMarina {
			users = append(users, dep.target())
		}
	}
	if len(users) == 0 {
		c.Status = Skip
		c.Evidence = "no application uses backend: marina, so no controller is needed"
		return []Check{c}
	}
	var dep appsv1.Deployment
	err := d.Client.Get(ctx, client.ObjectKey{Namespace: ControllerNamespace, Name: ControllerName}, &dep)
	switch {
	case apierrors.IsNotFound(err):
		c.Status = Fail
		c.Evidence = fmt.Sprintf("Deployment %s not found; %s use backend: marina", c.Target, strings.Join(users, ", "))
		c.Fix = "install the marina controller (kubectl apply -k config/default from marina's source) so ModelDeployments are reconciled"
		return []Check{c}
	case err != nil:
		return []Check{readError(c, "Deployment "+c.Target, err)}
	}
	for _, cond := range dep.Status.Conditions {
		if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue {
			c.Status = Pass
			c.Evidence = fmt.Sprintf("Deployment %s is Available (%d/%d ready)", c.Target, dep.Status.ReadyReplicas, dep.Status.Replicas)
			return []Check{c}
		}
	}
	c.Status = Fail
	c.Evidence = fmt.Sprintf("Deployment %s is not Available (%d/%d ready)", c.Target, dep.Status.ReadyReplicas, dep.Status.Replicas)
	for _, cond := range dep.Status.Conditions {
		if cond.Status != corev1.ConditionTrue && cond.Message != "" {
			c.Evidence += fmt.Sprintf("; %s: %s", cond.Type, cond.Message)
		}
	}
	c.Fix = fmt.Sprintf("kubectl -n %s describe deployment %s and kubectl -n %s logs deployment/%s", ControllerNamespace, ControllerName, ControllerNamespace, ControllerName)
	return []Check{c}
}

// readError turns an error reading what a check needs into a warning: the check could not decide.
func readError(c Check, what string, err error) Check {
	c.Status = Warn
	c.Evidence = fmt.Sprintf("reading %s: %v", what, err)
	if apierrors.IsForbidden(err) {
		c.Fix = "give the user of this kubeconfig read access (get/list) to it, or run marina doctor as a cluster reader"
	} else {
		c.Fix = "retry; if it persists, check the API server's health"
	}
	return c
}

// cond is a status condition of an unstructured object.
type cond struct {
	typ, status, reason, message string
}

func (c cond) describe() string {
	var parts []string
	if c.status != "" {
		parts = append(parts, c.typ+"="+c.status)
	}
	if c.reason != "" {
		parts = append(parts, c.reason)
	}
	if c.message != "" {
		parts = append(parts, c.message)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ": ") + ")"
}

// conditions reads status.conditions of an unstructured object.
func conditions(u *unstructured.Unstructured) []cond {
	items, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var out []cond
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		out = append(out, cond{typ: str("type"), status: str("status"), reason: str("reason"), message: str("message")})
	}
	return out
}

func condition(u *unstructured.Unstructured, typ string) (cond, bool) {
	for _, c := range conditions(u) {
		if c.typ == typ {
			return c, true
		}
	}
	return cond{typ: typ}, false
}
