// Package modelpod builds the pod of a model server: marina serve (or the image's own arguments) on one artifact,
// probes sized by the model, non-root with a read-only root file system, and the rolling update and progress
// deadline that fit it. marina render's plain backend and marina's controller build the same pod from it; it is
// pure (Kubernetes API types in, nothing read or written), so the controller does not depend on render.
package modelpod
