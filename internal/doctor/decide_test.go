package doctor

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/version"

	"github.com/marina-dev/marina/internal/project"
)

func TestServerVersionsBefore130Fail(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		major, minor string
		status       Status
		evidence     string
	}{
		{"the oldest supported minor passes", "1", "30", Pass, "v1.30"},
		{"a provider's + suffix is read", "1", "33+", Pass, "1.30 or newer"},
		{"an older minor fails", "1", "29", Fail, "older than 1.30"},
		{"a version that is not a number warns", "1", "x", Warn, "cannot read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			git := "v" + tc.major + "." + strings.TrimSuffix(tc.minor, "+") + ".0"
			c := judgeVersion(Check{Name: CheckAPI}, &version.Info{Major: tc.major, Minor: tc.minor, GitVersion: git})
			if c.Status != tc.status || !strings.Contains(c.Evidence, tc.evidence) || (tc.status != Pass && c.Fix == "") {
				t.Fatalf("%+v, want %s with %q", c, tc.status, tc.evidence)
			}
		})
	}
}

func TestRepositoryURLsMatchHoweverTheyAreWritten(t *testing.T) {
	t.Parallel()
	cases := []struct {
		a, b string
		same bool
	}{
		{"https://git.example.com/ml-platform.git", "https://git.example.com/ml-platform", true},
		{"https://GIT.example.com/ml-platform/", "https://git.example.com/ml-platform.git", true},
		{"ssh://git@git.example.com/ml-platform.git", "https://git.example.com/ml-platform.git", true},
		{"https://git.example.com/ml-platform-2.git", "https://git.example.com/ml-platform.git", false},
		{"https://git.example.com/team/ml-platform.git", "https://git.example.com/ml-platform.git", false},
		{"", "", false},
	}
	for _, tc := range cases {
		if got := sameRepo(tc.a, tc.b); got != tc.same {
			t.Errorf("sameRepo(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

func TestTaintsAreToleratedAsTheSchedulerDoes(t *testing.T) {
	t.Parallel()
	gpu := corev1.Taint{Key: "nvidia.com/gpu", Effect: corev1.TaintEffectNoSchedule}
	spot := corev1.Taint{Key: "spot", Value: "true", Effect: corev1.TaintEffectNoExecute}
	cases := []struct {
		name  string
		taint corev1.Taint
		tols  []project.Toleration
		want  bool
	}{
		{"Exists on the key tolerates it", gpu, []project.Toleration{{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoSchedule"}}, true},
		{"Exists without a key tolerates everything", spot, []project.Toleration{{Operator: "Exists"}}, true},
		{"Equal needs the value", spot, []project.Toleration{{Key: "spot", Value: "false"}}, false},
		{"Equal with the value tolerates it", spot, []project.Toleration{{Key: "spot", Operator: "Equal", Value: "true"}}, true},
		{"another effect does not", gpu, []project.Toleration{{Key: "nvidia.com/gpu", Operator: "Exists", Effect: "NoExecute"}}, false},
		{"no toleration does not", gpu, nil, false},
	}
	for _, tc := range cases {
		if got := tolerated(tc.taint, tc.tols); got != tc.want {
			t.Errorf("%s: got %v", tc.name, got)
		}
	}
}

func TestPodsAreSizedAsAdmissionSizesThem(t *testing.T) {
	t.Parallel()
	q := resource.MustParse
	defaults := []corev1.LimitRange{{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:           corev1.LimitTypeContainer,
		Default:        corev1.ResourceList{corev1.ResourceCPU: q("2"), corev1.ResourceMemory: q("4Gi")},
		DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("1Gi")},
	}}}}}
	spec := &corev1.PodSpec{Containers: []corev1.Container{
		{Name: "bare"},
		{Name: "limited", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: q("512Mi"), gpuResource: q("1")}}},
		{Name: "sized", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("250m")}}},
	}}
	req, lim := podResources(spec, defaults)
	// bare: 500m/1Gi requested, 2/4Gi limits; limited: requests = its limits (512Mi, 1 GPU), cpu 500m from the
	// LimitRange; sized: 250m and 1Gi requested.
	for name, want := range map[corev1.ResourceName]string{corev1.ResourceCPU: "1250m", corev1.ResourceMemory: "2560Mi", gpuResource: "1"} {
		if got := req[name]; got.Cmp(q(want)) != 0 {
			t.Errorf("requests %s = %s, want %s", name, got.String(), want)
		}
	}
	for name, want := range map[corev1.ResourceName]string{corev1.ResourceCPU: "6", corev1.ResourceMemory: "8704Mi", gpuResource: "1"} {
		if got := lim[name]; got.Cmp(q(want)) != 0 {
			t.Errorf("limits %s = %s, want %s", name, got.String(), want)
		}
	}
	if got, _ := podResources(spec, nil); got.Cpu().Cmp(q("250m")) != 0 {
		t.Errorf("without a LimitRange, requests cpu = %s, want 250m", got.Cpu().String())
	}
}
