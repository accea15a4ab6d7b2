// Package kubeschema validates Kubernetes objects of custom resource kinds offline, against the
// openAPIV3Schema of their CustomResourceDefinitions, with Kubernetes' pruning semantics: a field the schema does
// not declare is an error unless x-kubernetes-preserve-unknown-fields allows it.
//
// CEL rules (x-kubernetes-validations) are not evaluated; the API server still checks them.
package kubeschema
