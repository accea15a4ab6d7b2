// Package node is the end-to-end tier's real-node suite: a test cluster with one node where containers really run
// (kubelet, kube-proxy, containerd, runc, the CNI bridge; internal/testenv.StartRealNode), and what marina renders
// started on it. Its tests need root and carry the e2e build tag (make e2e).
package node
