// Package kubeschema validates Kubernetes objects offline against the schemas of their kinds, with the API server's
// semantics: a field the schema does not declare is an error (strict field validation) unless
// x-kubernetes-preserve-unknown-fields allows it, and required fields are required.
//
// Builtin returns a Validator for the schemas embedded in marina: the bundle builtin/bundle.json.gz (written by
// hack/kubeschemas.sh) with the built-in kinds of the stable API groups, from the Kubernetes OpenAPI v3 spec, and the
// CRD kinds marina emits or scaffolds; and marina's own CRDs (ModelDeployment), embedded from config/crd. AddCRDs,
// Load and LoadDirs add CustomResourceDefinitions (openAPIV3Schema of each served version) from files.
//
// Before the schema check a CRD's defaults are applied, and beside it the uniqueness of x-kubernetes-list-type map
// and set arrays is checked, with the API server's own code (k8s.io/apiextensions-apiserver's structural schema
// defaulting and listtype packages), so an object is judged as the server would judge it. Gateway API's
// experimental channel is built in beside the standard one (UseGatewayAPIChannel).
//
// CEL rules (x-kubernetes-validations) and formats are not evaluated; the API server still checks them.
package kubeschema
