// Package cli holds marina's cobra commands: one file per command, each with an
// options struct (AddFlags, Validate, Run) that its RunE only wires.
package cli
