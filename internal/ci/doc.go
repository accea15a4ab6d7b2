// Package ci is what `marina ci` runs on a pull request or a push: change detection between two commits
// (which models, applications and environments changed), the model checks of the changed ONNX versions whose
// artifacts are in the repository (package check, in ONNX Runtime), the quality gates of marina.yaml for the
// changed versions on the measured metrics (the recorded ones for what was not checked), and the summary a CI system shows (text, a Markdown PR comment, JSON). Validation findings come from
// package validate and rendered output from package render; this package decides what is in scope and whether
// the change may merge.
package ci
