// Package rollout decides, as a pure function, what a ModelDeployment's rollout does next: from the spec, the
// status (where all timing lives) and what the cluster has, it returns the replicas of every version, the traffic
// weights, the analysis to run and the new status. The reconciler applies the decision; tests drive it with fixed
// clocks. A restarted controller makes the same decision from the same status: no step is repeated or skipped.
//
// Every version runs in its own Deployment. The stable version is status.stableVersion; a rollout brings
// spec.version up as the canary (blue-green: the preview; shadow: the mirror target) and, when its strategy
// completes, makes it stable and removes the old one. An abort routes everything to stable, scales the canary to
// zero and asks for the revert to be written to Git; the rollout then stays aborted until spec.version changes.
package rollout
