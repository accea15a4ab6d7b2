package doctor

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/project"
)

// checkHPA reads the conditions the HPA controller writes on every HorizontalPodAutoscaler of the environments.
func (d *doctor) checkHPA(ctx context.Context) []Check {
	var out []Check
	for _, ns := range d.namespaces() {
		var hpas autoscalingv2.HorizontalPodAutoscalerList
		if err := d.Client.List(ctx, &hpas, client.InNamespace(ns)); err != nil {
			out = append(out, readError(Check{Name: CheckHPA, Target: ns}, "HorizontalPodAutoscalers in "+ns, err))
			continue
		}
		for i := range hpas.Items {
			out = append(out, hpaCheck(&hpas.Items[i]))
		}
	}
	if len(out) == 0 {
		return []Check{{Name: CheckHPA, Status: Skip, Evidence: "no HorizontalPodAutoscaler in " + strings.Join(d.namespaces(), ", ")}}
	}
	return out
}

// hpaCheck judges one HPA by AbleToScale and ScalingActive.
func hpaCheck(h *autoscalingv2.HorizontalPodAutoscaler) Check {
	c := Check{Name: CheckHPA, Target: "HorizontalPodAutoscaler " + h.Namespace + "/" + h.Name}
	target := h.Spec.ScaleTargetRef.Kind + " " + h.Spec.ScaleTargetRef.Name
	byType := map[autoscalingv2.HorizontalPodAutoscalerConditionType]autoscalingv2.HorizontalPodAutoscalerCondition{}
	for _, cd := range h.Status.Conditions {
		byType[cd.Type] = cd
	}
	able, hasAble := byType[autoscalingv2.AbleToScale]
	active, hasActive := byType[autoscalingv2.ScalingActive]
	switch {
	case !hasAble && !hasActive:
		c.Status = Warn
		c.Evidence = "no conditions yet: the HPA controller has not evaluated it"
		c.Fix = "wait a minute; if it stays so, check that kube-controller-manager runs its horizontalpodautoscaling controller"
	case hasAble && able.Status == corev1.ConditionFalse:
		c.Status = Fail
		c.Evidence = fmt.Sprintf("AbleToScale=False (%s): %s", able.Reason, able.Message)
		c.Fix = "check that scaleTargetRef " + target + " exists and that the HPA controller may read and update its scale subresource"
	case hasActive && active.Status == corev1.ConditionFalse && active.Reason == "ScalingDisabled":
		c.Status = Warn
		c.Evidence = fmt.Sprintf("ScalingActive=False (%s): %s", active.Reason, active.Message)
		c.Fix = "scale " + target + " above 0 replicas to let the HPA act"
	case hasActive && active.Status == corev1.ConditionFalse:
		c.Status = Fail
		c.Evidence = fmt.Sprintf("ScalingActive=False (%s): %s", active.Reason, active.Message)
		c.Fix = hpaFix(active.Reason, target)
	default:
		c.Status = Pass
		c.Evidence = fmt.Sprintf("AbleToScale=%s, ScalingActive=%s; %d current, %d desired replicas of %s (min %d, max %d)",
			able.Status, active.Status, h.Status.CurrentReplicas, h.Status.DesiredReplicas, target, ptrOr(h.Spec.MinReplicas, 1), h.Spec.MaxReplicas)
	}
	return c
}

func hpaFix(reason, target string) string {
	switch reason {
	case "FailedGetResourceMetric":
		return "install metrics-server so the resource metrics API (metrics.k8s.io) serves CPU and memory, and set resource requests on " + target + "'s containers"
	case "FailedGetPodsMetric", "FailedGetObjectMetric", "FailedGetExternalMetric", "FailedGetContainerResourceMetric":
		return "install a metrics adapter (prometheus-adapter, or KEDA for external metrics) that serves the metric the HPA names, and check the metric's name and selector"
	case "InvalidSelector", "InvalidMetricSourceType":
		return "fix the HPA's metrics in model.yaml (scaling) and run marina render --write"
	}
	return "kubectl describe hpa shows the events behind the condition; fix the metric source it names"
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// quotaKeys maps each ResourceQuota key marina checks to the pod resource it counts.
var quotaKeys = []struct {
	key      corev1.ResourceName
	resource corev1.ResourceName
	limits   bool
}{
	{corev1.ResourceCPU, corev1.ResourceCPU, false},
	{corev1.ResourceRequestsCPU, corev1.ResourceCPU, false},
	{corev1.ResourceMemory, corev1.ResourceMemory, false},
	{corev1.ResourceRequestsMemory, corev1.ResourceMemory, false},
	{corev1.ResourceLimitsCPU, corev1.ResourceCPU, true},
	{corev1.ResourceLimitsMemory, corev1.ResourceMemory, true},
	{corev1.DefaultResourceRequestsPrefix + gpuResource, gpuResource, false},
	{corev1.ResourcePods, "", false},
	{"count/pods", "", false},
}

// checkQuota checks that each environment's ResourceQuotas leave room for one more rollout of each model: the
// pods a rollout surges (maxSurge of the live Deployment, else one) on top of what is used, each pod sized as
// admission will size it (LimitRange defaults included).
func (d *doctor) checkQuota(ctx context.Context) []Check {
	var out []Check
	quotas := map[string][]corev1.ResourceQuota{}
	limitRanges := map[string][]corev1.LimitRange{}
	for _, ns := range d.namespaces() {
		var l corev1.ResourceQuotaList
		if err := d.Client.List(ctx, &l, client.InNamespace(ns)); err != nil {
			out = append(out, readError(Check{Name: CheckQuota, Target: ns}, "ResourceQuotas in "+ns, err))
			continue
		}
		var lr corev1.LimitRangeList
		if err := d.Client.List(ctx, &lr, client.InNamespace(ns)); err != nil {
			out = append(out, readError(Check{Name: CheckQuota, Target: ns}, "LimitRanges in "+ns, err))
			continue
		}
		quotas[ns], limitRanges[ns] = l.Items, lr.Items
		if len(l.Items) == 0 {
			out = append(out, Check{Name: CheckQuota, Target: ns, Status: Skip, Evidence: "no ResourceQuota in " + ns + ": nothing caps a rollout"})
		}
	}
	for _, dep := range d.deployments() {
		if qs := quotas[dep.env.Namespace]; len(qs) > 0 {
			out = append(out, d.quotaHeadroom(ctx, dep, qs, limitRanges[dep.env.Namespace]))
		}
	}
	return out
}

func (d *doctor) quotaHeadroom(ctx context.Context, dep deployment, quotas []corev1.ResourceQuota, limitRanges []corev1.LimitRange) Check {
	c := Check{Name: CheckQuota, Target: dep.target()}
	surge, requests, limits, source, err := d.nextRollout(ctx, dep, limitRanges)
	if err != nil {
		return readError(c, "Deployment "+dep.env.Namespace+"/"+dep.app.Spec.Model, err)
	}
	if surge == 0 {
		c.Status = Pass
		c.Evidence = source + ": maxSurge 0, the next rollout replaces pods without adding any"
		return c
	}
	var over, fits []string
	for _, q := range quotas {
		hard := q.Status.Hard
		if len(hard) == 0 {
			hard = q.Spec.Hard
		}
		for _, k := range quotaKeys {
			h, ok := hard[k.key]
			if !ok {
				continue
			}
			add := resource.MustParse(fmt.Sprint(surge))
			if k.resource != "" {
				per := requests[k.resource]
				if k.limits {
					per = limits[k.resource]
				}
				add = per.DeepCopy()
				add.Mul(surge)
			}
			used := q.Status.Used[k.key]
			total := used.DeepCopy()
			total.Add(add)
			line := fmt.Sprintf("%s/%s %s: used %s + %s = %s of hard %s", q.Namespace, q.Name, k.key, used.String(), add.String(), total.String(), h.String())
			if total.Cmp(h) > 0 {
				over = append(over, line)
			} else {
				fits = append(fits, line)
			}
		}
	}
	head := fmt.Sprintf("next rollout adds %s (%s)", plural(int(surge), "pod"), source)
	if len(over) > 0 {
		c.Status = Fail
		c.Evidence = head + "; over quota: " + strings.Join(over, "; ")
		c.Fix = fmt.Sprintf("raise the quota in infrastructure/overlays/%s, lower requests or replicas in %s, or set maxSurge 0 (GPU models render it)", dep.env.Name, project.ApplicationPath(dep.app.Spec.Model))
		return c
	}
	c.Status = Pass
	c.Evidence = head + "; fits: " + strings.Join(fits, "; ")
	return c
}

// nextRollout returns how many pods the next rollout of dep adds and one pod's requests and limits: from the live
// Deployment when there is one (the rendered maxSurge, resolved as the Deployment controller does), else one pod
// sized by model.yaml (KServe and ModelDeployment backends name their Deployments themselves), none for a GPU model.
func (d *doctor) nextRollout(ctx context.Context, dep deployment, limitRanges []corev1.LimitRange) (int64, corev1.ResourceList, corev1.ResourceList, string, error) {
	var live appsv1.Deployment
	err := d.Client.Get(ctx, client.ObjectKey{Namespace: dep.env.Namespace, Name: dep.app.Spec.Model}, &live)
	if apierrors.IsNotFound(err) {
		req, lim := modelResources(dep.settings.Resources, limitRanges)
		if dep.settings.Resources.GPUs() != "" {
			// GPU models never surge: render sets maxSurge 0 and the controller scales stable down first.
			return 0, req, lim, "no Deployment " + dep.app.Spec.Model + " yet; a GPU model", nil
		}
		return 1, req, lim, "no Deployment " + dep.app.Spec.Model + " yet: one pod as " + project.ApplicationPath(dep.app.Spec.Model) + " sizes it", nil
	}
	if err != nil {
		return 0, nil, nil, "", err
	}
	req, lim := podResources(&live.Spec.Template.Spec, limitRanges)
	replicas := int(ptrOr(live.Spec.Replicas, 1))
	source := "Deployment " + live.Namespace + "/" + live.Name
	if live.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return 0, req, lim, source + " uses Recreate", nil
	}
	ms := intstr.FromString("25%")
	if ru := live.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxSurge != nil {
		ms = *ru.MaxSurge
	}
	surge, err := intstr.GetScaledValueFromIntOrPercent(&ms, replicas, true)
	if err != nil {
		return 0, nil, nil, "", fmt.Errorf("maxSurge %s: %w", ms.String(), err)
	}
	return int64(surge), req, lim, fmt.Sprintf("%s: maxSurge %s of %d", source, ms.String(), replicas), nil
}

// podResources sums a pod's container requests and limits as admission leaves them: a request left out defaults
// to the limit (API defaulting), then what is still missing to the LimitRanges' container defaults (LimitRanger).
func podResources(spec *corev1.PodSpec, limitRanges []corev1.LimitRange) (corev1.ResourceList, corev1.ResourceList) {
	req, lim := corev1.ResourceList{}, corev1.ResourceList{}
	for _, ct := range spec.Containers {
		r, l := ct.Resources.Requests.DeepCopy(), ct.Resources.Limits.DeepCopy()
		if r == nil {
			r = corev1.ResourceList{}
		}
		if l == nil {
			l = corev1.ResourceList{}
		}
		for name, q := range l {
			if _, ok := r[name]; !ok {
				r[name] = q
			}
		}
		for _, lr := range limitRanges {
			for _, item := range lr.Spec.Limits {
				if item.Type != corev1.LimitTypeContainer {
					continue
				}
				fill(l, item.Default)
				fill(r, item.DefaultRequest)
			}
		}
		for name, q := range l {
			addTo(lim, name, q)
		}
		for name, q := range r {
			addTo(req, name, q)
		}
	}
	return req, lim
}

// fill sets what l lacks from defaults.
func fill(l, defaults corev1.ResourceList) {
	for name, q := range defaults {
		if _, ok := l[name]; !ok {
			l[name] = q
		}
	}
}

func modelResources(r *project.Resources, limitRanges []corev1.LimitRange) (corev1.ResourceList, corev1.ResourceList) {
	ct := corev1.Container{}
	if r != nil {
		ct.Resources.Requests, ct.Resources.Limits = corev1.ResourceList{}, corev1.ResourceList{}
		for k, v := range r.Requests {
			if q, err := resource.ParseQuantity(v); err == nil {
				ct.Resources.Requests[corev1.ResourceName(k)] = q
			}
		}
		for k, v := range r.Limits {
			if q, err := resource.ParseQuantity(v); err == nil {
				ct.Resources.Limits[corev1.ResourceName(k)] = q
			}
		}
	}
	return podResources(&corev1.PodSpec{Containers: []corev1.Container{ct}}, limitRanges)
}

func addTo(l corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
	sum := l[name]
	sum.Add(q)
	l[name] = sum
}
