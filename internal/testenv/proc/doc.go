// Package proc runs the child processes tests start (control-plane components, the OCI registry, Prometheus):
// output appended to a log file, killed by the kernel if the test binary dies first, and stopped the one way they
// all need — SIGTERM, SIGKILL after a grace period, then wait until the process is reaped.
//
// It imports nothing of marina, so packages of test helpers (testenv, prometheustest) can share it.
package proc
