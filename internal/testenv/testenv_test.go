package testenv_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/testenv"
)

// gpuDeployment requests one GPU per replica and tolerates the GPU taint, like a rendered GPU model.
func gpuDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"nvidia.com/gpu.present": "true"},
					Tolerations:  []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					Containers: []corev1.Container{{
						Name: "model", Image: "example.com/model:1",
						Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{testenv.GPUResource: resource.MustParse("1")}},
					}},
				},
			},
		},
	}
}

func pods(ctx context.Context, t *testing.T, c client.Client, app string) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := c.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{"app": app}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// TestWorkloads runs the whole chain: kube-controller-manager makes Pods, kube-scheduler places GPU Pods only on
// the GPU node (and leaves the one that does not fit Pending), kwok makes the placed Pods Ready.
func TestWorkloads(t *testing.T) {
	c := testenv.Start(t, testenv.Options{Workloads: true})
	c.AddNode(t, testenv.Node{Name: "cpu-0"})
	c.AddNode(t, testenv.Node{Name: "gpu-0", GPUs: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Three replicas, two GPUs: two Pods Ready on gpu-0, one Pending as Unschedulable.
	if err := c.Client.Create(ctx, gpuDeployment("vision", 3)); err != nil {
		t.Fatal(err)
	}
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		var readyOnGPU, unschedulable int
		for _, p := range pods(ctx, t, c.Client, "vision") {
			if testenv.PodReady(p) && p.Spec.NodeName == "gpu-0" {
				readyOnGPU++
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodScheduled && cond.Reason == corev1.PodReasonUnschedulable {
					unschedulable++
				}
			}
		}
		return readyOnGPU == 2 && unschedulable == 1, nil
	})
	if err != nil {
		for _, p := range pods(context.Background(), t, c.Client, "vision") {
			t.Logf("pod %s node=%q phase=%s conditions=%v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
		}
		t.Fatalf("want 2 Ready Pods on gpu-0 and 1 Unschedulable: %v\n%s\n%s", err, c.Logs("kube-scheduler"), c.Logs("kwok"))
	}
}

// TestCRDs installs marina's and every third-party CRD and sees them served.
func TestCRDs(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	for _, gvk := range []struct{ group, version, kind string }{
		{"argoproj.io", "v1alpha1", "ApplicationSet"},
		{"source.toolkit.fluxcd.io", "v1", "GitRepository"},
		{"kustomize.toolkit.fluxcd.io", "v1", "Kustomization"},
		{"gateway.networking.k8s.io", "v1", "HTTPRoute"},
		{"keda.sh", "v1alpha1", "ScaledObject"},
		{"external-secrets.io", "v1", "ExternalSecret"}, // what render emits; v1.x no longer serves v1beta1
		{"bitnami.com", "v1alpha1", "SealedSecret"},
		{"monitoring.coreos.com", "v1", "ServiceMonitor"},
		{"serving.kserve.io", "v1beta1", "InferenceService"},
		{"marina.dev", "v1alpha1", "ModelDeployment"},
	} {
		m, err := c.Client.RESTMapper().RESTMapping(schema.GroupKind{Group: gvk.group, Kind: gvk.kind}, gvk.version)
		if err != nil {
			t.Errorf("%s/%s %s not served: %v", gvk.group, gvk.version, gvk.kind, err)
			continue
		}
		if m.Resource.Resource == "" {
			t.Errorf("%s has no resource", gvk.kind)
		}
	}
}

// TestPodMetricsDriveTheHPAController: the real HPA controller reads the metrics API PodMetrics serves and scales
// a Deployment up when the reported CPU use passes the target, and is Able to scale (ScalingActive) before that.
func TestPodMetricsDriveTheHPAController(t *testing.T) {
	c := testenv.Start(t, testenv.Options{Workloads: true, Metrics: true})
	c.AddNode(t, testenv.Node{Name: "cpu-0"})
	ctx := context.Background()
	d := gpuDeployment("web", 1)
	d.Spec.Template.Spec.NodeSelector, d.Spec.Template.Spec.Tolerations = nil, nil
	d.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
	target := int32(50)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    new(int32(1)), MaxReplicas: 3,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target}}}},
		},
	}
	c.Metrics.SetCPU("default", "10m")
	for _, o := range []client.Object{d, hpa} {
		if err := c.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := eventually.Poll(waitCtx, func(ctx context.Context) (bool, error) { return cond(), nil }); err != nil {
			_ = c.Client.Get(ctx, client.ObjectKeyFromObject(hpa), hpa)
			t.Fatalf("%s: %v\nHPA status: %+v\n%s", what, err, hpa.Status, c.Logs("kube-controller-manager"))
		}
	}
	wait("the HPA reads 10% CPU", func() bool {
		_ = c.Client.Get(ctx, client.ObjectKeyFromObject(hpa), hpa)
		for _, m := range hpa.Status.CurrentMetrics {
			if m.Resource != nil && m.Resource.Current.AverageUtilization != nil && *m.Resource.Current.AverageUtilization == 10 {
				return true
			}
		}
		return false
	})
	if hpa.Status.DesiredReplicas != 1 {
		t.Fatalf("at 10%% of a 50%% target the HPA wants %d replicas, want 1", hpa.Status.DesiredReplicas)
	}
	c.Metrics.SetCPU("default", "80m") // 160% of the request: 1 × 160/50 → 4, capped at 3
	wait("the HPA scales the Deployment to 3", func() bool {
		_ = c.Client.Get(ctx, client.ObjectKeyFromObject(d), d)
		return *d.Spec.Replicas == 3
	})
}
