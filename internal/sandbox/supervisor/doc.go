// Package supervisor is what cmd/marina-sandbox runs for `marina sandbox up`: Prepare runs the hack/ scripts that
// build what a sandbox runs, Supervise starts it and keeps it until SIGTERM. It starts the components with
// internal/testenv, the same code the end-to-end tests run, through its own testenv.TB (runner): a Fatal ends the
// start with an error, and the cleanups testenv registers run in reverse order when the sandbox goes down.
package supervisor
