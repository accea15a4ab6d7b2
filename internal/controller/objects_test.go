package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
)

func TestDeploymentNamesStayDistinctAndStableWhenCut(t *testing.T) {
	t.Parallel()
	long := &v1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Name: "a-model-with-a-rather-long-descriptive-name"}}
	short := &v1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Name: "fraud"}}
	for _, tc := range []struct {
		name   string
		md     *v1alpha1.ModelDeployment
		v1, v2 string
	}{
		{"versions that differ past the cut", long, "1.0.0-rc.1", "1.0.0-rc.2"},
		{"a prerelease and its release", long, "1.0.0", "1.0.0-beta"},
		{"long build-like prereleases", short, "1.0.0-0123456789012345678901234567890123456789-a", "1.0.0-0123456789012345678901234567890123456789-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n1, n2 := deploymentName(tc.md, tc.v1), deploymentName(tc.md, tc.v2)
			if n1 == n2 {
				t.Fatalf("versions %s and %s share the Deployment name %s", tc.v1, tc.v2, n1)
			}
			for _, n := range []string{n1, n2} {
				if len(n) > 47 {
					t.Errorf("%s is %d characters, longer than 47 (no room left for the ReplicaSet and Pod suffixes)", n, len(n))
				}
			}
			if again := deploymentName(tc.md, tc.v1); again != n1 {
				t.Errorf("the name of %s changed from %s to %s between calls", tc.v1, n1, again)
			}
		})
	}
}

func TestShortDeploymentNamesAreNameDashVersion(t *testing.T) {
	t.Parallel()
	md := &v1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Name: "fraud"}}
	if got := deploymentName(md, "1.2.0-rc.1"); got != "fraud-1-2-0-rc-1" {
		t.Fatalf("deploymentName = %s, want fraud-1-2-0-rc-1", got)
	}
}
