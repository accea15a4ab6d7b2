package modelpod_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/marina-dev/marina/internal/modelpod"
)

func TestAGPUModelNeverSurges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		gpu                bool
		surge, unavailable intstr.IntOrString
	}{
		{false, intstr.FromString("25%"), intstr.FromInt32(0)},
		{true, intstr.FromInt32(0), intstr.FromInt32(1)},
	} {
		ru := modelpod.RollingUpdate(tc.gpu).RollingUpdate
		if *ru.MaxSurge != tc.surge || *ru.MaxUnavailable != tc.unavailable {
			t.Errorf("gpu=%t: maxSurge %s, maxUnavailable %s; want %s, %s", tc.gpu, ru.MaxSurge.String(), ru.MaxUnavailable.String(), tc.surge.String(), tc.unavailable.String())
		}
	}
}

func TestTheProgressDeadlineAndStartupProbeGrowWithTheModel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		size               int64
		deadline, failures int32
	}{
		{"a small model gets ten minutes and a minute to start", 1 << 20, 600, 12},
		{"a 50 GiB model gets twice its load time", 50 << 30, 2 * (60 + 1024), 217}, // 1084 s in 5 s periods, rounded up
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := modelpod.ProgressDeadlineSeconds(tc.size); got != tc.deadline {
				t.Errorf("ProgressDeadlineSeconds = %d, want %d", got, tc.deadline)
			}
			spec := modelpod.Spec(modelpod.Pod{Name: "m", Image: "i", Port: 8080, Size: tc.size})
			if got := spec.Containers[0].StartupProbe.FailureThreshold; got != tc.failures {
				t.Errorf("startup probe failure threshold = %d, want %d", got, tc.failures)
			}
		})
	}
}

func TestTheServerRunsNonRootOnAReadOnlyRootFileSystem(t *testing.T) {
	t.Parallel()
	spec := modelpod.Spec(modelpod.Pod{Name: "m", Image: "i", Port: 8080, ConfigMap: "m-config", Secrets: []string{"token"}})
	c := spec.Containers[0]
	if !*spec.SecurityContext.RunAsNonRoot || !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Fatalf("security contexts: pod %+v, container %+v", spec.SecurityContext, c.SecurityContext)
	}
	if len(c.EnvFrom) != 2 || c.EnvFrom[0].ConfigMapRef.Name != "m-config" || c.EnvFrom[1].SecretRef.Name != "token" {
		t.Fatalf("envFrom %+v, want the ConfigMap then the Secret", c.EnvFrom)
	}
	if c.Ports[0].Name != modelpod.PortName || c.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Fatalf("ports %+v", c.Ports)
	}
}
