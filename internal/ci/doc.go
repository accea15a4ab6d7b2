// Package ci is what `marina ci` runs on a pull request or a push: change detection between two commits
// (which models, applications and environments changed), the quality gates of marina.yaml for the changed
// versions, and the summary a CI system shows (text, a Markdown PR comment, JSON). Validation findings come from
// package validate and rendered output from package render; this package decides what is in scope and whether
// the change may merge.
package ci
