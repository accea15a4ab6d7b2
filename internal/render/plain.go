package render

import (
	"fmt"
	"maps"
	"path"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/modelpod"
	"github.com/marina-dev/marina/internal/project"
)

// plain renders a Deployment, Service, route and autoscaling objects.
func (c *context) plain() ([]object, error) {
	dep, err := c.deployment()
	if err != nil {
		return nil, err
	}
	objs := []object{{file: "deployment.yaml", obj: dep}, {file: "service.yaml", obj: c.service()}}
	if c.keys != nil {
		objs = append(objs, object{file: "configmap-signing-keys.yaml", obj: c.keys})
	}
	switch c.Project.Spec.Traffic {
	case "ingress":
		objs = append(objs, object{file: "ingress.yaml", obj: c.ingress()})
	default:
		objs = append(objs, object{file: "httproute.yaml", obj: c.httpRoute()})
	}
	if s := c.settings.Scaling; s != nil && s.HPA != nil {
		objs = append(objs, object{file: "hpa.yaml", obj: c.hpa(s.HPA)})
	}
	if s := c.settings.Scaling; s != nil && s.KEDA != nil {
		objs = append(objs, object{file: "scaledobject.yaml", obj: c.scaledObject(s.KEDA)})
	}
	if c.minReplicas() >= 2 {
		objs = append(objs, object{file: "pdb.yaml", obj: c.pdb()})
	}
	return objs, nil
}

// minReplicas is the fewest pods the environment runs.
func (c *context) minReplicas() int32 {
	if s := c.settings.Scaling; s != nil {
		switch {
		case s.HPA != nil:
			return s.HPA.Min
		case s.KEDA != nil:
			return s.KEDA.Min
		}
	}
	return c.replicas()
}

func (c *context) replicas() int32 {
	if c.settings.Replicas != nil {
		return *c.settings.Replicas
	}
	return 1
}

// autoscaled is true when an HPA or KEDA owns the replica count, so render leaves it out
// and the GitOps engine does not fight the autoscaler.
func (c *context) autoscaled() bool {
	s := c.settings.Scaling
	return s != nil && (s.HPA != nil || s.KEDA != nil)
}

func (c *context) gpu() bool {
	return c.settings.Resources.GPUs() != ""
}

func (c *context) deployment() (*appsv1.Deployment, error) {
	pod, err := c.podSpec()
	if err != nil {
		return nil, err
	}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: c.namespace, Labels: c.labels(), Annotations: c.annotations()},
		Spec: appsv1.DeploymentSpec{
			Selector:                &metav1.LabelSelector{MatchLabels: c.selector()},
			RevisionHistoryLimit:    new(int32(5)),
			ProgressDeadlineSeconds: new(modelpod.ProgressDeadlineSeconds(c.Version.Artifact.Size)),
			Strategy:                modelpod.RollingUpdate(c.gpu()),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: c.labels(), Annotations: c.annotations()},
				Spec:       pod,
			},
		},
	}
	if !c.autoscaled() {
		d.Spec.Replicas = new(c.replicas())
	}
	return d, nil
}

func (c *context) podSpec() (corev1.PodSpec, error) {
	p, err := c.pod()
	if err != nil {
		return corev1.PodSpec{}, err
	}
	return modelpod.Spec(p), nil
}

// pod is what the model's pod is made from.
func (c *context) pod() (modelpod.Pod, error) {
	res, err := c.resources()
	if err != nil {
		return modelpod.Pod{}, err
	}
	p := modelpod.Pod{
		Name: c.name, Image: c.image, Port: c.port, Args: c.args(),
		Version: c.Version.Version, URI: c.Version.Artifact.URI, Digest: c.Version.Artifact.Digest,
		Format: c.Version.Format, File: c.Version.Artifact.File, Size: c.Version.Artifact.Size, Artifact: c.verifying(c.artifact()), ConfigMap: c.configMap,
		Resources: res, NodeSelector: c.settings.NodeSelector, Tolerations: tolerations(c.settings.Tolerations),
	}
	if err := p.Check(); err != nil {
		return modelpod.Pod{}, fmt.Errorf("%s: spec.runtime.artifact: %s: %w", c.appFile, model.File(c.Version.Name, c.Version.Version), err)
	}
	for _, s := range c.App.Spec.Secrets {
		p.Secrets = append(p.Secrets, s.Name)
	}
	return p, nil
}

// artifact is model.yaml's runtime.artifact: how an oci:// artifact gets into the pod.
func (c *context) artifact() modelpod.Artifact {
	rt := c.App.Spec.Runtime
	if rt == nil || rt.Artifact == nil {
		return modelpod.Artifact{}
	}
	return modelpod.Artifact{Via: rt.Artifact.Via, PullSecret: rt.Artifact.PullSecret, PullImage: rt.Artifact.PullImage, PlainHTTP: rt.Artifact.PlainHTTP}
}

// verifying adds the signature check to a's init container when the keys ConfigMap is rendered.
func (c *context) verifying(a modelpod.Artifact) modelpod.Artifact {
	if c.keys != nil {
		a.KeysConfigMap = c.keys.Name
		a.KeyFiles = slices.Sorted(maps.Keys(c.keys.Data))
	}
	return a
}

// args are model.yaml's runtime.args; nil means PodSpec's default, marina serve on the artifact.
func (c *context) args() []string {
	if rt := c.App.Spec.Runtime; rt != nil && len(rt.Args) > 0 {
		return rt.Args
	}
	return nil
}

func (c *context) resources() (corev1.ResourceRequirements, error) {
	var out corev1.ResourceRequirements
	r := c.settings.Resources
	if r == nil {
		return out, nil
	}
	var err error
	if out.Requests, err = quantities(c.appFile, "requests", r.Requests); err != nil {
		return out, err
	}
	out.Limits, err = quantities(c.appFile, "limits", r.Limits)
	return out, err
}

func quantities(file, field string, in map[string]string) (corev1.ResourceList, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := corev1.ResourceList{}
	for k, v := range in {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("%s: resources.%s[%q]: %q is not a Kubernetes quantity (e.g. 500m, 2Gi): %w", file, field, k, v, err)
		}
		out[corev1.ResourceName(k)] = q
	}
	return out, nil
}

func tolerations(in []project.Toleration) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range in {
		out = append(out, corev1.Toleration{Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value,
			Effect: corev1.TaintEffect(t.Effect), TolerationSeconds: t.TolerationSeconds})
	}
	return out
}

func (c *context) service() *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: c.namespace, Labels: c.labels()},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: c.selector(),
			Ports:    []corev1.ServicePort{{Name: modelpod.PortName, Port: 80, TargetPort: intstr.FromString(modelpod.PortName), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// routePaths are the request paths of this model on a shared Gateway or Ingress.
func (c *context) routePaths() []string {
	return []string{"/v2/models/" + c.name, "/v1/models/" + c.name}
}

func (c *context) httpRoute() *gatewayv1.HTTPRoute {
	gw := c.Project.Spec.Gateway
	if gw == nil {
		gw = &project.GatewayRef{Name: DefaultGatewayName, Namespace: DefaultGatewayNamespace}
	}
	parent := gatewayv1.ParentReference{Name: gatewayv1.ObjectName(gw.Name)}
	if gw.Namespace != "" {
		parent.Namespace = new(gatewayv1.Namespace(gw.Namespace))
	}
	var matches []gatewayv1.HTTPRouteMatch
	for _, p := range c.routePaths() {
		matches = append(matches, gatewayv1.HTTPRouteMatch{Path: &gatewayv1.HTTPPathMatch{Type: new(gatewayv1.PathMatchPathPrefix), Value: new(p)}})
	}
	return &gatewayv1.HTTPRoute{
		TypeMeta:   metav1.TypeMeta{APIVersion: "gateway.networking.k8s.io/v1", Kind: "HTTPRoute"},
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: c.namespace, Labels: c.labels()},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{parent}},
			Rules: []gatewayv1.HTTPRouteRule{{
				Matches: matches,
				BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
					BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(c.name), Port: new(gatewayv1.PortNumber(80))},
				}}},
			}},
		},
	}
}

func (c *context) ingress() *networkingv1.Ingress {
	var paths []networkingv1.HTTPIngressPath
	for _, p := range c.routePaths() {
		paths = append(paths, networkingv1.HTTPIngressPath{
			Path:     p,
			PathType: new(networkingv1.PathTypePrefix),
			Backend:  networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: c.name, Port: networkingv1.ServiceBackendPort{Name: modelpod.PortName}}},
		})
	}
	return &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: c.namespace, Labels: c.labels()},
		Spec:       networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}}},
	}
}

func (c *context) hpa(h *v1alpha1.HPAScaling) *autoscalingv2.HorizontalPodAutoscaler {
	util := h.CPUUtilization
	if util == 0 {
		util = 70
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: c.namespace, Labels: c.labels()},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: c.name},
			MinReplicas:    new(h.Min),
			MaxReplicas:    h.Max,
			Metrics: []autoscalingv2.MetricSpec{{
				Type:     autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(util)}},
			}},
		},
	}
}

func (c *context) scaledObject(k *v1alpha1.KEDAScaling) map[string]any {
	server := k.ServerAddress
	if server == "" {
		server = DefaultPrometheus
	}
	return map[string]any{
		"apiVersion": "keda.sh/v1alpha1",
		"kind":       "ScaledObject",
		"metadata":   c.meta(c.name),
		"spec": map[string]any{
			"scaleTargetRef":  map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": c.name},
			"minReplicaCount": k.Min,
			"maxReplicaCount": k.Max,
			"triggers": []any{map[string]any{
				"type":     "prometheus",
				"metadata": map[string]any{"serverAddress": server, "query": k.Query, "threshold": k.Threshold},
			}},
		},
	}
}

func (c *context) pdb() *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: c.namespace, Labels: c.labels()},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: c.selector()}},
	}
}

// common renders what every backend needs: the config ConfigMap and the secret references.
func (c *context) common() ([]object, error) {
	var objs []object
	if c.configMap != "" {
		data, err := configData(c.appFile, c.App.Spec.Config, c.Config)
		if err != nil {
			return nil, err
		}
		objs = append(objs, object{file: "configmap.yaml", obj: &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: c.configMap, Namespace: c.namespace, Labels: c.labels()},
			Data:       data,
		}})
	}
	for _, s := range c.App.Spec.Secrets {
		switch {
		case s.ExternalSecret != nil:
			objs = append(objs, object{file: "externalsecret-" + s.Name + ".yaml", obj: map[string]any{
				"apiVersion": "external-secrets.io/v1",
				"kind":       "ExternalSecret",
				"metadata":   c.meta(s.Name),
				"spec": map[string]any{
					"refreshInterval": "1h",
					"secretStoreRef":  map[string]any{"kind": "ClusterSecretStore", "name": s.ExternalSecret.Store},
					"target":          map[string]any{"name": s.Name, "creationPolicy": "Owner"},
					"dataFrom":        []any{map[string]any{"extract": map[string]any{"key": s.ExternalSecret.Key}}},
				},
			}})
		case s.SealedSecret != nil:
			raw, ok := c.SealedSecrets[s.Name]
			if !ok {
				return nil, fmt.Errorf("%s: secrets[%s].sealedSecret.file %s: not read", c.appFile, s.Name, s.SealedSecret.File)
			}
			objs = append(objs, object{file: "sealedsecret-" + s.Name + ".yaml", raw: raw})
		}
	}
	return objs, nil
}

// configData flattens the config file (a YAML mapping of scalars) into ConfigMap data.
func configData(appFile, configFile string, raw []byte) (map[string]string, error) {
	m, err := ParseConfig(path.Join(path.Dir(appFile), configFile), raw)
	if err != nil {
		return nil, err
	}
	return m, nil
}
