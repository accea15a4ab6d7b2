package controller

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/marina-dev/marina/api/v1alpha1"
)

func TestTheCacheKeepsWhatTheReconcilerReads(t *testing.T) {
	t.Parallel()
	own := metav1.ManagedFieldsEntry{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationApply,
		FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:replicas":{}}}`)}
	fields := []metav1.ManagedFieldsEntry{
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status",
			FieldsV1: metav1.NewFieldsV1(`{"f:status":{}}`)},
		{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status",
			FieldsV1: metav1.NewFieldsV1(`{"f:status":{}}`)},
		own,
		{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate,
			FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:template":{}}}`)},
	}
	replicas := int32(3)
	meta := metav1.ObjectMeta{Name: "iris-1-0-0", Namespace: "ml", Generation: 4, ManagedFields: fields,
		Labels:      map[string]string{v1alpha1.LabelVersion: "1.0.0"},
		Annotations: map[string]string{v1alpha1.AnnotationAppliedHash: "0123456789abcdef"}}
	dep := &appsv1.Deployment{ObjectMeta: *meta.DeepCopy(),
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "iris"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "iris"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "model", Image: "marina-serve"}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 3, ReadyReplicas: 2, UpdatedReplicas: 3,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue}}}}
	svc := &corev1.Service{ObjectMeta: *meta.DeepCopy(),
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "iris"}, Ports: []corev1.ServicePort{{Port: 80}}}}

	for _, tc := range []struct {
		name     string
		in, want runtime.Object
	}{
		{"a Deployment keeps its metadata, replicas, selector and status, without the pod template",
			dep, func() runtime.Object {
				d := dep.DeepCopy()
				d.ManagedFields = []metav1.ManagedFieldsEntry{own}
				d.Spec.Template = corev1.PodTemplateSpec{}
				return d
			}()},
		{"a Service keeps its spec", svc, func() runtime.Object {
			s := svc.DeepCopy()
			s.ManagedFields = []metav1.ManagedFieldsEntry{own}
			return s
		}()},
		{"an object the controller never applied keeps no managed fields",
			&v1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Name: "iris", ManagedFields: fields[:2]}},
			&v1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Name: "iris"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := trim(tc.in.DeepCopyObject())
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("trimmed:\n%+v\nwant:\n%+v", got, tc.want)
			}
			// Drift is seen as before: the controller's own apply entry is what it was.
			before, hadOwn := ownedFields(tc.in.(metav1.Object))
			after, hasOwn := ownedFields(got.(metav1.Object))
			if before != after || hadOwn != hasOwn {
				t.Errorf("ownedFields: %x, %v after trimming; %x, %v before", after, hasOwn, before, hadOwn)
			}
		})
	}
}
