package controller

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// CacheOptions returns o with the transform that keeps the manager's cache down to what the reconciler reads of
// the objects it watches, so its memory grows with the number of models by what a model needs, not by whole
// objects:
//   - managedFields: only the entry of the controller's own apply (ownership compares it to see drift); the other
//     managers' entries are as large as the objects' specs.
//   - Deployments: no pod template (observe reads labels, owners, generation, replicas and status; an older
//     version's replicas change through a merge patch that holds only them; the current version is server-side
//     applied from the ModelDeployment, never from the cache).
//
// Nothing updates a cached object whole (only merge patches of the fields changed, and applies), so what is left
// out is never written back.
func CacheOptions(o cache.Options) cache.Options {
	o.DefaultTransform = trim
	return o
}

// trim is CacheOptions' transform: it changes obj in place, as the cache's transforms may.
func trim(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(ownApply(m.GetManagedFields()))
	}
	if d, ok := obj.(*appsv1.Deployment); ok {
		d.Spec.Template = corev1.PodTemplateSpec{}
	}
	return obj, nil
}

// ownApply is the one entry of fields that ownedFields reads, or none.
func ownApply(fields []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	for _, e := range fields {
		if e.Manager == FieldManager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			return []metav1.ManagedFieldsEntry{e}
		}
	}
	return nil
}
