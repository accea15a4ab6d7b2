// Package controller is marina's operator: it reconciles ModelDeployments into one Deployment per version, the
// Services in front of them and the traffic split, moving rollouts forward as package rollout decides, measuring
// their analyses on Prometheus and, when a rollout aborts, writing the revert to the model Git repository.
//
// Objects it owns, for a ModelDeployment NAME:
//   - Deployment NAME-<version> per running version (labels marina.dev/modeldeployment and marina.dev/version);
//   - Service NAME over every version's pods (traffic by replica ratio), NAME-stable and NAME-canary over one
//     version's each (the backends of a traffic split);
//   - the weights of the Gateway API HTTPRoute NAME when one exists (its backendRefs and a RequestMirror filter
//     for shadow traffic). status.weights always holds the split, for marina router.
package controller
