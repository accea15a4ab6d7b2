// Package registry is the model registry kept in Git: models/<model>/v<semver>.json
// files, one commit and two tags per registered version.
package registry
