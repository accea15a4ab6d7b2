// Package writeback writes an aborted rollout's revert to the model Git repository:
// the same commit `marina rollback M --env E --to STABLE` makes (the environment back
// on the stable version, the bad version blocked), pushed with credentials from a
// Secret, so Argo CD or Flux apply the stable version instead of fighting the
// controller. Writes are idempotent and retried when the push races another writer.
package writeback
