// Package sandbox runs marina's whole loop on one machine for a user: a Kubernetes control plane with a real node
// (containerd, runc, CNI, kubelet, kube-proxy), an OCI registry holding marina's images and the model versions, a
// Git server on loopback holding a copy of a model repository, Flux syncing it, marina controller, marina router in
// front of the demo's model, and Prometheus scraping the model servers and routers.
//
// This package is the part the marina binary links: up, status, demo and down. Demo runs the loop on a running
// sandbox with marina's own commands and narrates it from the ModelDeployment's status. `marina sandbox up` builds the supervisor,
// cmd/marina-sandbox (package supervisor), from marina's source tree and starts it detached (setsid); it owns every
// process, writes STATE_DIR/state.json and STATE_DIR/sandbox.log, and tears everything down on SIGTERM, which is
// what `marina sandbox down` sends. The supervisor starts the components with internal/testenv, the same code the
// end-to-end tests run, which marina itself must not link (see hack/layering.sh).
package sandbox
