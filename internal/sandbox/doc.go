// Package sandbox runs marina's whole loop on one machine for a user: a Kubernetes control plane with a real node
// (containerd, runc, CNI, kubelet, kube-proxy), an OCI registry holding marina's images and the model versions, a
// Git server on loopback holding a copy of a model repository, Flux syncing it, marina controller, and Prometheus
// scraping the model servers.
//
// It starts them with internal/testenv, the same code the end-to-end tests run, through its own testenv.TB
// (runner): a Fatal ends the start with an error, and the cleanups testenv registers run in reverse order when the
// sandbox goes down. `marina sandbox up` re-executes marina detached (setsid) as a supervisor that owns every
// process, writes STATE_DIR/state.json and STATE_DIR/sandbox.log, and tears everything down on SIGTERM, which is
// what `marina sandbox down` sends.
package sandbox
