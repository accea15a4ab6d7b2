// Package render turns applications/<model>/model.yaml and the registered version
// metadata into the Kubernetes manifests committed under applications/<model>/<env>/
// (the "rendered manifests" pattern): deterministic, one object per file, labelled
// the same way everywhere, for one of three backends (plain, kserve, marina).
package render
