// Package testenv starts a real Kubernetes control plane for tests: kube-apiserver and etcd through
// controller-runtime's envtest and, on request, kube-controller-manager, kube-scheduler and kwok, so Deployments
// get ReplicaSets and Pods that are scheduled onto fake nodes (CPU or GPU) and become Ready without containers.
// StartRegistry runs a real OCI registry (CNCF distribution, from hack/registry.sh) on loopback, with basic auth
// and TLS on request. StartRealNode adds a node where containers really run (kubelet, kube-proxy, containerd, runc,
// the CNI bridge), with metrics-server and CoreDNS as Pods on request (hack/addons.sh). StartGitea runs a real
// forge (Gitea from hack/gitea.sh) on loopback, with an admin and a bot account and a token for each.
//
// The binaries come from hack/controlplane.sh, which builds them from Go modules into a versioned cache and prints
// the directory; tests read it from KUBEBUILDER_ASSETS or the script's default path. Everything a test starts is
// stopped in its Cleanup, also when the test fails.
package testenv
