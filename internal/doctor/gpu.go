package doctor

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/project"
)

const gpuResource corev1.ResourceName = project.GPUResource

// gpuDeployments are the deployments whose pods request GPUs.
func (d *doctor) gpuDeployments() []deployment {
	var out []deployment
	for _, dep := range d.deployments() {
		if dep.settings.Resources.GPUs() != "" {
			out = append(out, dep)
		}
	}
	return out
}

// checkGPU checks, for each model that requests GPUs, that schedulable nodes it may run on offer enough of them, and
// reports its Pods the scheduler could not place.
func (d *doctor) checkGPU(ctx context.Context) []Check {
	deps := d.gpuDeployments()
	if len(deps) == 0 {
		return []Check{{Name: CheckGPU, Status: Skip, Evidence: "no application requests " + string(gpuResource)}}
	}
	var nodes corev1.NodeList
	if err := d.Client.List(ctx, &nodes); err != nil {
		return []Check{readError(Check{Name: CheckGPU}, "Nodes", err)}
	}
	var out []Check
	for _, dep := range deps {
		out = append(out, d.gpuCapacity(ctx, dep, nodes.Items))
	}
	return out
}

func (d *doctor) gpuCapacity(ctx context.Context, dep deployment, nodes []corev1.Node) Check {
	c := Check{Name: CheckGPU, Target: dep.target()}
	perPod, err := resource.ParseQuantity(dep.settings.Resources.GPUs())
	if err != nil {
		c.Status = Fail
		c.Evidence = fmt.Sprintf("%s: %s %q is not a quantity", project.ApplicationPath(dep.app.Spec.Model), gpuResource, dep.settings.Resources.GPUs())
		c.Fix = "set a whole number of GPUs, e.g. nvidia.com/gpu: \"1\" (marina validate reports this too)"
		return c
	}
	replicas := dep.replicas()
	need := perPod.Value() * replicas

	var offer int64
	var offering, excluded []string
	gpuNodes, labelledWithout := 0, 0
	for i := range nodes {
		n := &nodes[i]
		alloc := n.Status.Allocatable[gpuResource]
		if alloc.IsZero() {
			if n.Labels[project.GPUNodeLabel] == "true" {
				labelledWithout++
			}
			continue
		}
		gpuNodes++
		if why := unfit(n, dep.settings); why != "" {
			excluded = append(excluded, fmt.Sprintf("%s (%s %s): %s", n.Name, alloc.String(), gpuResource, why))
			continue
		}
		offer += alloc.Value()
		offering = append(offering, fmt.Sprintf("%s=%s", n.Name, alloc.String()))
	}
	unschedulable, err := d.unschedulablePods(ctx, dep)
	if err != nil {
		return readError(c, "Pods of "+dep.target(), err)
	}

	var ev []string
	ev = append(ev, fmt.Sprintf("needs %d %s (%s × %s)", need, gpuResource, plural(int(replicas), "replica"), perPod.String()))
	if len(offering) > 0 {
		ev = append(ev, fmt.Sprintf("schedulable nodes it fits offer %d: %s", offer, strings.Join(offering, ", ")))
	} else {
		ev = append(ev, "no schedulable node it fits offers "+string(gpuResource))
	}
	if len(excluded) > 0 {
		ev = append(ev, "excluded: "+strings.Join(excluded, "; "))
	}
	if labelledWithout > 0 {
		ev = append(ev, fmt.Sprintf("%s labelled %s=true advertise no %s", plural(labelledWithout, "node"), project.GPUNodeLabel, gpuResource))
	}
	if len(unschedulable) > 0 {
		ev = append(ev, fmt.Sprintf("%s Pending: %s", plural(len(unschedulable), "pod"), strings.Join(unschedulable, "; ")))
	}
	c.Evidence = strings.Join(ev, "; ")
	if offer >= need && len(unschedulable) == 0 {
		c.Status = Pass
		return c
	}
	c.Status = Fail
	var fix []string
	switch {
	case labelledWithout > 0:
		fix = append(fix, "install the NVIDIA device plugin on the GPU nodes so they advertise "+string(gpuResource)+" (infrastructure/base/nvidia-device-plugin.yaml)")
	case gpuNodes == 0:
		fix = append(fix, fmt.Sprintf("add GPU nodes labelled %s=true with the NVIDIA device plugin (infrastructure/terraform has a node pool stub)", project.GPUNodeLabel))
	}
	if len(excluded) > 0 {
		fix = append(fix, "check the nodeSelector and tolerations in "+project.ApplicationPath(dep.app.Spec.Model)+" against the excluded nodes' labels and taints")
	}
	if len(fix) == 0 {
		fix = append(fix, fmt.Sprintf("add GPU capacity (at least %d more %s) or lower replicas in %s", max(need-offer, perPod.Value()), gpuResource, project.ApplicationPath(dep.app.Spec.Model)))
	}
	c.Fix = strings.Join(fix, "; ")
	return c
}

// unfit says why a model's pods cannot run on a node, "" when they can.
func unfit(n *corev1.Node, s project.EnvironmentSpec) string {
	if n.Spec.Unschedulable {
		return "cordoned"
	}
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return "not Ready"
	}
	for _, k := range slices.Sorted(maps.Keys(s.NodeSelector)) {
		if v, ok := n.Labels[k]; !ok || v != s.NodeSelector[k] {
			return fmt.Sprintf("nodeSelector %s=%s does not match", k, s.NodeSelector[k])
		}
	}
	for _, t := range n.Spec.Taints {
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerated(t, s.Tolerations) {
			return "taint " + t.ToString() + " is not tolerated"
		}
	}
	return ""
}

// tolerated applies the scheduler's toleration rules (operators Exists and Equal).
func tolerated(t corev1.Taint, tols []project.Toleration) bool {
	for _, tol := range tols {
		if tol.Effect != "" && tol.Effect != string(t.Effect) {
			continue
		}
		switch tol.Operator {
		case string(corev1.TolerationOpExists):
			if tol.Key == "" || tol.Key == t.Key {
				return true
			}
		case "", string(corev1.TolerationOpEqual):
			if tol.Key == t.Key && tol.Value == t.Value {
				return true
			}
		}
	}
	return false
}

// unschedulablePods lists a deployment's Pods the scheduler gave up on, with its message.
func (d *doctor) unschedulablePods(ctx context.Context, dep deployment) ([]string, error) {
	pods, err := d.modelPods(ctx, dep.env.Namespace, client.MatchingLabels{v1alpha1.LabelModel: dep.app.Spec.Model, v1alpha1.LabelEnvironment: dep.env.Name})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods {
		if msg, ok := unschedulable(&p); ok {
			out = append(out, p.Name+": "+msg)
		}
	}
	return out, nil
}

func unschedulable(p *corev1.Pod) (string, bool) {
	if p.Status.Phase != corev1.PodPending {
		return "", false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return c.Message, true
		}
	}
	return "", false
}

// modelPods lists the Pods marina's rendered objects run in a namespace.
func (d *doctor) modelPods(ctx context.Context, ns string, extra client.MatchingLabels) ([]corev1.Pod, error) {
	sel := client.MatchingLabels{v1alpha1.LabelManagedBy: v1alpha1.ManagedBy}
	for k, v := range extra {
		sel[k] = v
	}
	var pods corev1.PodList
	if err := d.Client.List(ctx, &pods, client.InNamespace(ns), sel); err != nil {
		return nil, err
	}
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return cmp.Compare(a.Name, b.Name) })
	return pods.Items, nil
}

// checkDevicePlugin checks the NVIDIA device plugin DaemonSet when a model requests GPUs: the one marina init
// writes, else any DaemonSet named like it (the GPU operator's).
func (d *doctor) checkDevicePlugin(ctx context.Context) []Check {
	want := project.DevicePluginNamespace + "/" + project.DevicePluginName
	c := Check{Name: CheckDevicePlugin, Target: want}
	if len(d.gpuDeployments()) == 0 {
		c.Status = Skip
		c.Evidence = "no application requests " + string(gpuResource)
		return []Check{c}
	}
	var ds appsv1.DaemonSet
	err := d.Client.Get(ctx, client.ObjectKey{Namespace: project.DevicePluginNamespace, Name: project.DevicePluginName}, &ds)
	if apierrors.IsNotFound(err) {
		var all appsv1.DaemonSetList
		if err := d.Client.List(ctx, &all); err != nil {
			return []Check{readError(c, "DaemonSets", err)}
		}
		found := false
		for _, o := range all.Items {
			if strings.Contains(o.Name, project.DevicePluginName) {
				ds, found = o, true
				break
			}
		}
		if !found {
			c.Status = Fail
			c.Evidence = "DaemonSet " + want + " not found, and no DaemonSet named like " + project.DevicePluginName + " in any namespace"
			c.Fix = "sync infrastructure/base (it holds nvidia-device-plugin.yaml), or install the NVIDIA GPU operator; without it no node advertises " + string(gpuResource)
			return []Check{c}
		}
		c.Target = ds.Namespace + "/" + ds.Name
	} else if err != nil {
		return []Check{readError(c, "DaemonSet "+want, err)}
	}
	st := ds.Status
	switch {
	case st.DesiredNumberScheduled == 0:
		c.Status = Fail
		c.Evidence = fmt.Sprintf("DaemonSet %s runs on no node (desired 0)", c.Target)
		c.Fix = fmt.Sprintf("label the GPU nodes %s=true (its nodeSelector) or add GPU nodes", project.GPUNodeLabel)
	case st.NumberReady < st.DesiredNumberScheduled:
		c.Status = Fail
		c.Evidence = fmt.Sprintf("DaemonSet %s: %d of %d pods ready", c.Target, st.NumberReady, st.DesiredNumberScheduled)
		c.Fix = fmt.Sprintf("kubectl -n %s get pods -o wide | grep %s, then describe and read the logs of the pods that are not ready (driver missing, image pull)", ds.Namespace, ds.Name)
	default:
		c.Status = Pass
		c.Evidence = fmt.Sprintf("DaemonSet %s: %d of %d pods ready", c.Target, st.NumberReady, st.DesiredNumberScheduled)
	}
	return []Check{c}
}
