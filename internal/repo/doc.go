// Package repo is the model GitOps repository on disk: finding it, reading its
// files without leaving it, and changing it through one crash-safe Git commit
// per operation.
//
// A commit is made in the object store first, then published by one atomic
// ref update, and only then copied to the index and work tree. A journal in
// .git/marina records the publication so that a process killed at any point
// leaves HEAD at the previous or the new commit, and the next marina command
// finishes or discards the interrupted work.
package repo
