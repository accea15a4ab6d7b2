package doctor_test

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/doctor"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestDoctorOnAClusterThatSchedules runs the example's rendered objects on a cluster with kube-controller-manager,
// kube-scheduler and kwok nodes: real Pods, real scheduling decisions, real HPA conditions and quota usage.
func TestDoctorOnAClusterThatSchedules(t *testing.T) {
	t.Parallel()
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
	cl := c.Client
	ctx := context.Background()
	c.AddNode(t, testenv.Node{Name: "cpu-0"})

	t.Run("gpu", func(t *testing.T) {
		ns := "gpu-staging"
		createNamespace(t, cl, ns)
		applyDir(t, cl, examplePath(t, "applications", "vision-gpu", "staging"), ns)
		in := input(t, c, newProject("https://git.example.com/gpu.git", nil, "staging", ns), exampleApp(t, "vision-gpu"))

		t.Run("fails with the scheduler's message while no node has a GPU", func(t *testing.T) {
			wait(t, "the vision-gpu pod to be Unschedulable", func(ctx context.Context) (bool, error) {
				pods := modelPods(ctx, t, cl, ns, "vision-gpu")
				return len(pods) == 1 && scheduled(pods[0]) == corev1.ConditionFalse, nil
			})
			checks := doctor.Run(ctx, in)
			expect(t, checks, doctor.CheckGPU, "vision-gpu/staging", doctor.Fail, []string{
				"needs 1 nvidia.com/gpu (1 replica × 1)",
				"no schedulable node it fits offers nvidia.com/gpu",
				"1 pod Pending: vision-gpu-",
				"0/1 nodes are available",
			}, "add GPU nodes labelled nvidia.com/gpu.present=true")
			expect(t, checks, doctor.CheckDevicePlugin, project.DevicePluginNamespace+"/"+project.DevicePluginName, doctor.Fail,
				[]string{"not found"}, "nvidia-device-plugin.yaml")
			// The pods check leaves a GPU model's scheduling to the gpu check.
			expect(t, checks, doctor.CheckPods, "vision-gpu/staging", doctor.Pass, []string{"1 model pod (0 Ready), none failing"})
		})

		t.Run("passes once a GPU node and the device plugin run the pod", func(t *testing.T) {
			apply(t, cl, examplePath(t, "infrastructure", "base", "nvidia-device-plugin.yaml"), "")
			c.AddNode(t, testenv.Node{Name: "gpu-0", GPUs: 2})
			wait(t, "the vision-gpu pod Ready on gpu-0 and the device plugin ready", func(ctx context.Context) (bool, error) {
				pods := modelPods(ctx, t, cl, ns, "vision-gpu")
				var ds appsv1.DaemonSet
				if err := cl.Get(ctx, client.ObjectKey{Namespace: project.DevicePluginNamespace, Name: project.DevicePluginName}, &ds); err != nil {
					return false, err
				}
				return len(pods) == 1 && pods[0].Spec.NodeName == "gpu-0" && testenv.PodReady(pods[0]) &&
					ds.Status.DesiredNumberScheduled == 1 && ds.Status.NumberReady == 1, nil
			})
			checks := doctor.Run(ctx, in)
			expect(t, checks, doctor.CheckGPU, "vision-gpu/staging", doctor.Pass, []string{"needs 1 nvidia.com/gpu", "schedulable nodes it fits offer 2: gpu-0=2"})
			expect(t, checks, doctor.CheckDevicePlugin, project.DevicePluginNamespace+"/"+project.DevicePluginName, doctor.Pass, []string{"1 of 1 pods ready"})
			// maxSurge 0: a GPU model's rollout needs no quota headroom.
			expect(t, checks, doctor.CheckQuota, ns, doctor.Skip, []string{"no ResourceQuota in gpu-staging"})
		})

		t.Run("fails when the model's replicas need more GPUs than the nodes it tolerates have", func(t *testing.T) {
			app := exampleApp(t, "vision-gpu")
			three := int32(3)
			app.Spec.Replicas = &three
			app.Spec.Tolerations = nil
			big := input(t, c, newProject("https://git.example.com/gpu.git", nil, "staging", ns), app)
			expect(t, doctor.Run(ctx, big), doctor.CheckGPU, "vision-gpu/staging", doctor.Fail, []string{
				"needs 3 nvidia.com/gpu (3 replicas × 1)",
				"excluded: gpu-0 (2 nvidia.com/gpu): taint nvidia.com/gpu:NoSchedule is not tolerated",
			}, "tolerations")
		})
	})

	t.Run("hpa fails with the HPA controller's message when no metrics API serves CPU", func(t *testing.T) {
		t.Parallel()
		ns := "hpa-staging"
		createNamespace(t, cl, ns)
		applyDir(t, cl, examplePath(t, "applications", "iris-classifier", "staging"), ns)
		wait(t, "the HPA controller to judge iris-classifier", func(ctx context.Context) (bool, error) {
			var h autoscalingv2.HorizontalPodAutoscaler
			err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "iris-classifier"}, &h)
			for _, cd := range h.Status.Conditions {
				if cd.Type == autoscalingv2.ScalingActive {
					return true, err
				}
			}
			return false, err
		})
		checks := doctor.Run(ctx, input(t, c, newProject("https://git.example.com/hpa.git", nil, "staging", ns), exampleApp(t, "iris-classifier")))
		expect(t, checks, doctor.CheckHPA, "HorizontalPodAutoscaler "+ns+"/iris-classifier", doctor.Fail,
			[]string{"ScalingActive=False (FailedGetResourceMetric)", "metrics"}, "install metrics-server")
	})

	t.Run("quota passes with room for the next rollout's surge and fails with the numbers without it", func(t *testing.T) {
		t.Parallel()
		fits, full := "quota-fits", "quota-full"
		for ns, cpu := range map[string]string{fits: "4", full: "400m"} {
			createNamespace(t, cl, ns)
			q := &corev1.ResourceQuota{
				ObjectMeta: metav1.ObjectMeta{Name: "models", Namespace: ns},
				Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
					corev1.ResourceRequestsCPU:        resource.MustParse(cpu),
					corev1.ResourceLimitsMemory:       resource.MustParse("8Gi"),
					"requests." + testenv.GPUResource: resource.MustParse("4"),
					corev1.ResourcePods:               resource.MustParse("10"),
				}},
			}
			if err := cl.Create(ctx, q); err != nil {
				t.Fatal(err)
			}
			apply(t, cl, examplePath(t, "applications", "iris-classifier", "staging", "configmap.yaml"), ns)
			apply(t, cl, examplePath(t, "applications", "iris-classifier", "staging", "deployment.yaml"), ns)
		}
		wait(t, "both quotas to count the iris-classifier pod", func(ctx context.Context) (bool, error) {
			for _, ns := range []string{fits, full} {
				var q corev1.ResourceQuota
				if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "models"}, &q); err != nil {
					return false, err
				}
				if used := q.Status.Used[corev1.ResourceRequestsCPU]; used.String() != "250m" {
					return false, nil
				}
			}
			return true, nil
		})
		checks := doctor.Run(ctx, input(t, c, newProject("https://git.example.com/quota.git", nil, "staging", fits, "prod", full),
			exampleApp(t, "iris-classifier"), exampleApp(t, "vision-gpu")))
		expect(t, checks, doctor.CheckQuota, "vision-gpu/staging", doctor.Pass, []string{"a GPU model: maxSurge 0"})
		expect(t, checks, doctor.CheckQuota, "iris-classifier/staging", doctor.Pass, []string{
			"next rollout adds 1 pod (Deployment quota-fits/iris-classifier: maxSurge 25% of 1)",
			"quota-fits/models requests.cpu: used 250m + 250m = 500m of hard 4",
			"limits.memory: used 512Mi + 512Mi = 1Gi of hard 8Gi",
			"pods: used 1 + 1 = 2 of hard 10",
		})
		expect(t, checks, doctor.CheckQuota, "iris-classifier/prod", doctor.Fail, []string{
			"over quota: quota-full/models requests.cpu: used 250m + 250m = 500m of hard 400m",
		}, "raise the quota in infrastructure/overlays/prod")
	})
}

func modelPods(ctx context.Context, t *testing.T, cl client.Client, ns, model string) []corev1.Pod {
	t.Helper()
	var l corev1.PodList
	if err := cl.List(ctx, &l, client.InNamespace(ns), client.MatchingLabels{v1alpha1.LabelModel: model}); err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func scheduled(p corev1.Pod) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}
