// Package sandbox tests `marina sandbox` end to end (build tag e2e): the built binary brings the sandbox up,
// its status is checked against the real components, and down leaves the host as it was.
package sandbox
