// Package kubeschema validates Kubernetes objects offline against the schemas of their kinds, with the API server's
// semantics: a field the schema does not declare is an error (strict field validation) unless
// x-kubernetes-preserve-unknown-fields allows it, and required fields are required.
//
// Builtin returns a Validator for the schemas embedded in marina: the bundle builtin/bundle.json.gz (written by
// hack/kubeschemas.sh) with the built-in kinds of the stable API groups, from the Kubernetes OpenAPI v3 spec, and the
// CRD kinds marina emits or scaffolds; and marina's own CRDs (ModelDeployment), embedded from config/crd. AddCRDs,
// Load and LoadDirs add CustomResourceDefinitions (openAPIV3Schema of each served version) from files.
//
// CEL rules (x-kubernetes-validations) and formats are not evaluated; the API server still checks them.
package kubeschema
