package scaffold

import (
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/config/monitoring"
	"github.com/marina-dev/marina/config/rbac"
	"github.com/marina-dev/marina/internal/project"
)

// Names of the cluster-wide objects.
const (
	systemNamespace    = project.SystemNamespace
	controllerName     = project.ControllerName
	devicePluginName   = project.DevicePluginName
	devicePluginNS     = project.DevicePluginNamespace
	devicePluginImage  = "nvcr.io/nvidia/k8s-device-plugin:v0.17.0"
	envPlaceholderNS   = "models"
	gpuResource        = "nvidia.com/gpu"
	gpuNodeLabel       = project.GPUNodeLabel
	environmentLabel   = v1alpha1.LabelEnvironment
	infraBaseDir       = "infrastructure/base"
	infraMonitoringDir = "infrastructure/base/monitoring"
	infraEnvDir        = "infrastructure/base/environment"
	infraOverlayPrefix = "infrastructure/overlays/"
)

// infrastructure writes infrastructure/: the cluster-wide base (marina-system, controller RBAC, NVIDIA device
// plugin), the per-environment base (Namespace, ResourceQuota, LimitRange) and one overlay per environment that
// places the per-environment base into models-<env>.
//
// Cluster-wide objects live apart from the per-environment ones so that each environment's overlay owns only its
// own objects: Argo CD Applications and Flux Kustomizations of different environments never fight over one object.
func (g *generator) infrastructure() error {
	o := g.o
	g.addYAML(infraBaseDir+"/kustomization.yaml", []string{generatedHeader,
		"Cluster-wide infrastructure, applied once per cluster. Per-environment objects are in environment/,",
		"placed into models-<env> by ../overlays/<env>."},
		kustomization([]string{"namespace.yaml", "rbac.yaml", "nvidia-device-plugin.yaml", "monitoring"}, nil))
	g.addYAML(infraBaseDir+"/namespace.yaml", []string{generatedHeader}, g.systemNamespace())
	rbacObjects, err := g.rbac()
	if err != nil {
		return err
	}
	g.addYAML(infraBaseDir+"/rbac.yaml", []string{generatedHeader,
		"Least-privilege RBAC for the marina controller (marina controller): cluster-wide for the kinds it",
		"reconciles in every models-<env> namespace, namespaced to marina-system for leader election."},
		rbacObjects...)
	g.addYAML(infraBaseDir+"/nvidia-device-plugin.yaml", []string{generatedHeader,
		"NVIDIA device plugin: advertises nvidia.com/gpu on GPU nodes so GPU models can be scheduled.",
		"From https://github.com/NVIDIA/k8s-device-plugin deployments/static/nvidia-device-plugin.yml (v0.17.0),",
		"with a nodeSelector for GPU nodes (label nvidia.com/gpu.present=true, set by GPU feature discovery or",
		"your node pool) and resource limits added. Remove it if the GPU Operator or your cloud installs the plugin."},
		g.devicePlugin())
	if err := g.monitoring(); err != nil {
		return err
	}

	g.addYAML(infraEnvDir+"/kustomization.yaml", []string{generatedHeader,
		"One environment's namespace, quota and defaults. Each overlay sets `namespace: models-<env>`, which also",
		"renames the Namespace below (kustomize's namespace transformer)."},
		kustomization([]string{"namespace.yaml", "resourcequota.yaml", "limitrange.yaml"}, nil))
	g.addYAML(infraEnvDir+"/namespace.yaml", []string{generatedHeader,
		"Renamed to models-<env> by each overlay."}, g.envNamespace())
	g.addYAML(infraEnvDir+"/resourcequota.yaml", []string{generatedHeader,
		"Caps what one environment's models may request; patch it per environment in its overlay."}, g.quota())
	g.addYAML(infraEnvDir+"/limitrange.yaml", []string{generatedHeader,
		"Defaults for containers that set no requests or limits, so the quota can always be evaluated."}, g.limitRange())

	for _, env := range o.Envs {
		g.addYAML(infraOverlayPrefix+env+"/kustomization.yaml", []string{generatedHeader,
			"Infrastructure of the " + env + " environment. Add patches here to size its quota or limits."},
			kustomization([]string{"../../base/environment"}, object{
				"namespace": namespace(env),
				"labels": []any{object{
					"pairs":            object{environmentLabel: env},
					"includeSelectors": false,
				}},
			}))
	}
	g.addTemplate("infrastructure/terraform/README.md", "terraform.md.tmpl")
	return nil
}

// monitoring writes the router's alerts and Grafana dashboard from config/monitoring, into marina-system. They are a
// directory of their own so that a cluster without the Prometheus Operator drops them with one line.
func (g *generator) monitoring() error {
	g.addYAML(infraMonitoringDir+"/kustomization.yaml", []string{generatedHeader,
		"Monitoring of marina router: alerts and a Grafana dashboard. The PrometheusRule needs the Prometheus",
		"Operator's CRDs; without them, remove `- monitoring` from ../kustomization.yaml."},
		kustomization([]string{"prometheusrule.yaml", "grafana-dashboard.yaml"}, nil))
	var rule object
	if err := yaml.UnmarshalStrict(monitoring.PrometheusRule, &rule); err != nil {
		return fmt.Errorf("config/monitoring/prometheusrule.yaml: %w", err)
	}
	meta, _ := rule["metadata"].(object)
	if meta == nil {
		return fmt.Errorf("config/monitoring/prometheusrule.yaml: no metadata")
	}
	meta["namespace"] = systemNamespace
	labels, _ := meta["labels"].(object)
	if labels == nil {
		labels = object{}
	}
	maps.Copy(labels, g.anyLabels())
	meta["labels"] = labels
	g.addYAML(infraMonitoringDir+"/prometheusrule.yaml", []string{generatedHeader,
		"Alerts on marina router's metrics (config/monitoring/prometheusrule.yaml of marina): error rate, latency,",
		"upstream errors, shadow disagreement and mirror drops. The Prometheus Operator loads it when its",
		"ruleSelector and ruleNamespaceSelector match (kube-prometheus-stack: set",
		"prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues=false, or add its release label here)."}, rule)
	g.addYAML(infraMonitoringDir+"/grafana-dashboard.yaml", []string{generatedHeader,
		"marina router's Grafana dashboard (config/monitoring/router-dashboard.json of marina). Grafana's dashboard",
		"sidecar loads ConfigMaps labelled grafana_dashboard: \"1\"; with kube-prometheus-stack, let it search every",
		"namespace (grafana.sidecar.dashboards.searchNamespace: ALL) or move this ConfigMap to Grafana's."},
		&corev1.ConfigMap{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: monitoring.DashboardConfigMap, Namespace: systemNamespace,
				Labels: g.labels(monitoring.DashboardLabel, "1")},
			Data: map[string]string{monitoring.DashboardKey: string(monitoring.Dashboard)},
		})
	return nil
}

func (g *generator) systemNamespace() *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: systemNamespace, Labels: g.labels()},
	}
}

func (g *generator) envNamespace() *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: envPlaceholderNS, Labels: g.labels()},
	}
}

func (g *generator) quota() *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: metav1.ObjectMeta{Name: "models", Namespace: envPlaceholderNS, Labels: g.labels()},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsCPU:                     resource.MustParse("32"),
			corev1.ResourceRequestsMemory:                  resource.MustParse("128Gi"),
			corev1.ResourceLimitsMemory:                    resource.MustParse("256Gi"),
			corev1.ResourceName("requests." + gpuResource): resource.MustParse("4"),
			corev1.ResourcePods:                            resource.MustParse("100"),
		}},
	}
}

func (g *generator) limitRange() *corev1.LimitRange {
	return &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
		ObjectMeta: metav1.ObjectMeta{Name: "models-defaults", Namespace: envPlaceholderNS, Labels: g.labels()},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer,
			Default: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("2"),
				corev1.ResourceMemory: resource.MustParse("4Gi"),
			},
			DefaultRequest: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("500m"),
				corev1.ResourceMemory: resource.MustParse("1Gi"),
			},
		}}},
	}
}

func (g *generator) rbac() ([]any, error) {
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	rules, err := rbac.Rules()
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: controllerName, Labels: g.labels()},
		Rules:      rules,
	}
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: controllerName, Namespace: systemNamespace}}
	return []any{
		&corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: controllerName, Namespace: systemNamespace, Labels: g.labels()},
		},
		role,
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: controllerName, Labels: g.labels()},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: controllerName},
			Subjects:   subject,
		},
		&rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
			ObjectMeta: metav1.ObjectMeta{Name: controllerName + "-leader-election", Namespace: systemNamespace, Labels: g.labels()},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: all},
				{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
			},
		},
		&rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: controllerName + "-leader-election", Namespace: systemNamespace, Labels: g.labels()},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: controllerName + "-leader-election"},
			Subjects:   subject,
		},
	}, nil
}

func (g *generator) devicePlugin() *appsv1.DaemonSet {
	selector := map[string]string{"app.kubernetes.io/name": devicePluginName}
	podLabels := g.labels("app.kubernetes.io/name", devicePluginName)
	no := false
	return &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: devicePluginName, Namespace: devicePluginNS, Labels: podLabels},
		Spec: appsv1.DaemonSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: selector},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					NodeSelector:      map[string]string{gpuNodeLabel: "true"},
					PriorityClassName: "system-node-critical",
					Tolerations: []corev1.Toleration{{
						Key: gpuResource, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
					}},
					Containers: []corev1.Container{{
						Name:  "nvidia-device-plugin-ctr",
						Image: devicePluginImage,
						Env:   []corev1.EnvVar{{Name: "FAIL_ON_INIT_ERROR", Value: "false"}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{
								corev1.ResourceCPU:    resource.MustParse("50m"),
								corev1.ResourceMemory: resource.MustParse("64Mi"),
							},
							Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: &no,
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "device-plugin", MountPath: "/var/lib/kubelet/device-plugins"}},
					}},
					Volumes: []corev1.Volume{{
						Name: "device-plugin",
						VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
							Path: "/var/lib/kubelet/device-plugins",
						}},
					}},
				},
			},
		},
	}
}
