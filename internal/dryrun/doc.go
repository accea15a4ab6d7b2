// Package dryrun checks what the repository deploys against a real API server: every object Argo CD or Flux
// would apply — each root kustomization built as they build it, plus plain manifest directories — goes through
// server-side apply in dry-run mode, so admission, CRD schemas and their CEL rules judge it, and nothing changes.
package dryrun
