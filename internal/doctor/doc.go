// Package doctor checks a live cluster against the model repository: the API server, marina's CRD and controller,
// the GitOps engines' objects for this repository, GPU capacity and the NVIDIA device plugin, HPA metrics,
// ResourceQuota headroom for the next rollout and failing model pods. Each check reports what it observed and, when
// something is wrong, what to do about it.
package doctor
