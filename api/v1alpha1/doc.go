// Package v1alpha1 holds the marina.dev/v1alpha1 API: ModelDeployment, what marina's controller rolls out. marina
// render writes one per model and environment with the marina backend; the controller owns the Deployments,
// Services and traffic split that serve it.
//
// +kubebuilder:object:generate=true
// +groupName=marina.dev
package v1alpha1
