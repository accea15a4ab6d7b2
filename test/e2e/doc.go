// Package e2e runs marina's processes against the real things they drive: the marina controller binary on a real
// control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kwok) with a real Prometheus, real GitOps
// engines (Flux, Argo CD) and a real forge (Gitea). The tests build with the e2e tag: go test -tags e2e ./test/e2e/
package e2e
