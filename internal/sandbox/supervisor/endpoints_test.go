package supervisor

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
)

func TestEndpointKeyIsTheServiceNamedAsTheModelNotAVersionsOwn(t *testing.T) {
	t.Parallel()
	labels := map[string]string{v1alpha1.LabelModel: "iris-classifier", v1alpha1.LabelEnvironment: "staging"}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{name: "iris-classifier", labels: labels, want: "iris-classifier/staging"},
		{name: "iris-classifier-stable", labels: labels},
		{name: "iris-classifier-canary", labels: labels},
		{name: "iris-classifier", labels: map[string]string{v1alpha1.LabelModel: "iris-classifier"}},
	} {
		svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: tc.name, Labels: tc.labels}}
		got, ok := endpointKey(svc)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("endpointKey(Service %s, labels %v) = %q, %v; want %q", tc.name, tc.labels, got, ok, tc.want)
		}
	}
}
