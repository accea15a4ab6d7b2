package controller

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/modelpod"
)

// The router's ports: the proxy (named like a model server's, so Service NAME targets "http" either way) and
// /metrics, /healthz and /status.
const (
	RouterPort        = 8080
	RouterMetricsPort = 9100
	routerMetricsName = "metrics"
	// DefaultRouterReplicas is the router's size when spec.router.replicas is unset: one pod restarting never stops
	// traffic.
	DefaultRouterReplicas = 2
)

// Scrape annotations on the router's pods, for a Prometheus whose Kubernetes service discovery keeps the pods that
// ask to be scraped (the convention of Prometheus' example configuration and of most charts).
const (
	AnnotationScrape     = "prometheus.io/scrape"
	AnnotationScrapePort = "prometheus.io/port"
	AnnotationScrapePath = "prometheus.io/path"
)

var podMonitorGVK = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PodMonitor"}

// routerName names every object of md's router: its Deployment, ServiceAccount, Role, RoleBinding and PodMonitor.
func routerName(md *v1alpha1.ModelDeployment) string { return md.Name + "-router" }

func routerSelector(md *v1alpha1.ModelDeployment) map[string]string {
	return map[string]string{v1alpha1.LabelRouter: md.Name}
}

func routerLabels(md *v1alpha1.ModelDeployment) map[string]string {
	l := map[string]string{
		"app.kubernetes.io/name":      md.Spec.Model,
		"app.kubernetes.io/component": "router",
		v1alpha1.LabelManagedBy:       v1alpha1.ManagedBy,
		v1alpha1.LabelModel:           md.Spec.Model,
		v1alpha1.LabelRouter:          md.Name,
	}
	if env := md.Labels[v1alpha1.LabelEnvironment]; env != "" {
		l[v1alpha1.LabelEnvironment] = env
	}
	return l
}

// serviceSelector is what Service NAME selects: the router's pods when it runs, else every version's.
func serviceSelector(md *v1alpha1.ModelDeployment) map[string]string {
	if md.RouterEnabled() {
		return routerSelector(md)
	}
	return selector(md)
}

// routerObjects are the objects of md's router, in the order they are applied: the identity and its permission
// (get, list and watch of this one ModelDeployment, what cluster mode reads) before the pods that use them.
func routerObjects(md *v1alpha1.ModelDeployment) []client.Object {
	name, l := routerName(md), routerLabels(md)
	om := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: md.Namespace, Labels: maps.Clone(l)}
	}
	return []client.Object{
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: om()},
		&rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, ObjectMeta: om(),
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"modeldeployments"},
				ResourceNames: []string{md.Name}, Verbs: []string{"get", "list", "watch"}}}},
		&rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}, ObjectMeta: om(),
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: md.Namespace}}},
		routerDeployment(md),
	}
}

// routerDeployment runs marina router in cluster mode on md, with the hardened pod of the model servers.
func routerDeployment(md *v1alpha1.ModelDeployment) *appsv1.Deployment {
	replicas, image := int32(DefaultRouterReplicas), modelpod.PullImage
	var placement v1alpha1.Router
	if r := md.Spec.Router; r != nil {
		if r.Replicas != nil {
			replicas = *r.Replicas
		}
		if r.Image != "" {
			image = r.Image
		}
		placement = *r
	}
	l := routerLabels(md)
	probe := func(failures int32) *corev1.Probe {
		return &corev1.Probe{PeriodSeconds: 5, FailureThreshold: failures, ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString(routerMetricsName)}}}
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: routerName(md), Namespace: md.Namespace, Labels: l},
		Spec: appsv1.DeploymentSpec{
			Replicas:             &replicas,
			Selector:             &metav1.LabelSelector{MatchLabels: routerSelector(md)},
			RevisionHistoryLimit: new(int32(2)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(l), Annotations: map[string]string{
					AnnotationScrape: "true", AnnotationScrapePort: strconv.Itoa(RouterMetricsPort), AnnotationScrapePath: "/metrics",
				}},
				Spec: corev1.PodSpec{
					ServiceAccountName: routerName(md),
					SecurityContext:    modelpod.PodSecurity(),
					NodeSelector:       placement.NodeSelector,
					Tolerations:        placement.Tolerations,
					// Two router pods on two nodes where there are two: a node going away leaves one routing.
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100,
							PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname,
								LabelSelector: &metav1.LabelSelector{MatchLabels: routerSelector(md)}}}},
					}},
					Containers: []corev1.Container{{
						Name:  "router",
						Image: image,
						Args: []string{"router", "--model-deployment=" + md.Name, "--namespace=" + md.Namespace,
							fmt.Sprintf("--listen=:%d", RouterPort), fmt.Sprintf("--metrics=:%d", RouterMetricsPort)},
						Ports: []corev1.ContainerPort{
							{Name: modelpod.PortName, ContainerPort: RouterPort, Protocol: corev1.ProtocolTCP},
							{Name: routerMetricsName, ContainerPort: RouterMetricsPort, Protocol: corev1.ProtocolTCP},
						},
						// /healthz answers once the router routes: it listens only after the ModelDeployment's
						// status has weights, so a pod is Ready only when it can route.
						ReadinessProbe: probe(3),
						LivenessProbe:  probe(6),
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
						},
						SecurityContext: modelpod.ContainerSecurity(),
						// Why the router exited (its last log lines) shows in the Pod's status and in marina doctor.
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					}},
				},
			},
		},
	}
}

// routerPodMonitor has a Prometheus Operator scrape the router's pods: the scrape annotations say the same to a
// Prometheus configured by hand.
func routerPodMonitor(md *v1alpha1.ModelDeployment) *unstructured.Unstructured {
	pm := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": routerName(md), "namespace": md.Namespace},
		"spec": map[string]any{
			"selector":            map[string]any{"matchLabels": map[string]any{v1alpha1.LabelRouter: md.Name}},
			"podMetricsEndpoints": []any{map[string]any{"port": routerMetricsName, "path": "/metrics"}},
		},
	}}
	pm.SetGroupVersionKind(podMonitorGVK)
	pm.SetLabels(routerLabels(md))
	return pm
}

// applyRouter makes md's router objects exist when the router is enabled, and removes those md owns when it is
// not. A PodMonitor is applied only where the Prometheus Operator's CRD is installed.
func (r *Reconciler) applyRouter(ctx context.Context, md *v1alpha1.ModelDeployment) error {
	objs := routerObjects(md)
	pm := routerPodMonitor(md)
	if !md.RouterEnabled() {
		for _, obj := range append(objs, pm) {
			if err := r.deleteOwned(ctx, md, obj); err != nil {
				return fmt.Errorf("router %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
			}
		}
		return nil
	}
	for _, obj := range objs {
		if err := r.serverApply(ctx, md, obj); err != nil {
			return fmt.Errorf("router %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
	}
	if err := r.serverApply(ctx, md, pm); err != nil && !meta.IsNoMatchError(err) {
		return fmt.Errorf("router PodMonitor %s: %w", pm.GetName(), err)
	}
	return nil
}

// deleteOwned deletes the object named like obj when md controls it; an absent object, or a kind the API server
// does not serve, is nothing to delete.
func (r *Reconciler) deleteOwned(ctx context.Context, md *v1alpha1.ModelDeployment, obj client.Object) error {
	err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	switch {
	case meta.IsNoMatchError(err):
		return nil
	case err != nil:
		return client.IgnoreNotFound(err)
	case !metav1.IsControlledBy(obj, md):
		return nil
	}
	if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		return err
	}
	r.owned.forget(obj.GetUID())
	return nil
}
