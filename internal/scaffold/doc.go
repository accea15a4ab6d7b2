// Package scaffold produces the files `marina init` writes: a model GitOps repository with marina.yaml,
// infrastructure (namespaces, RBAC, quotas, NVIDIA device plugin), Argo CD and/or Flux wiring, a declarative CI
// pipeline and the CI files that run `marina ci`. Output is deterministic: the same Options give the same bytes.
package scaffold
