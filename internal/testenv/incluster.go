package testenv

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// KubernetesServiceIP is the ClusterIP of the kubernetes Service: the first of the Service range Start sets.
const KubernetesServiceIP = "10.0.0.1"

// configureInClusterClients makes Pods on a real node in-cluster API clients, as kubeadm's clusters make them:
//   - the API server listens on every address and advertises the host's, so the kubernetes Service's endpoint
//     (KubernetesServiceIP:443, kube-proxy's rules) leads Pods on the Pod network to it;
//   - its serving certificate names what an in-cluster client dials (the Service's IP and DNS names), which the
//     certificate envtest generates does not: it is issued here, with envtest's generation skipped (an
//     apiserver.crt already in the certificate directory), and envtest's clients trust its CA;
//   - the ServiceAccount admission plugin, which envtest turns off, mounts each Pod's token (TokenRequest, signed
//     with a key issued here) and kube-controller-manager's kube-root-ca.crt ConfigMap with that CA.
//
// Pods then need their ServiceAccount to exist before they are created, as in any cluster: kube-controller-manager
// (Options.Workloads) creates each namespace's default one.
func configureInClusterClients(tb TB, env *envtest.Environment) {
	tb.Helper()
	ip := hostIP()
	if ip == nil {
		tb.Fatal("Options.InClusterClients: the host has no non-loopback IPv4 address for Pods to reach the API server on")
	}
	dir := tb.TempDir()
	caFile, certFile, keyFile := issueCertificate(tb, dir, "apiserver", "kube-apiserver-ca", &x509.Certificate{
		Subject: pkix.Name{CommonName: "kube-apiserver"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc." + ClusterDomain},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), ip, net.ParseIP(KubernetesServiceIP)},
	})
	_, saCert, saKey := issueCertificate(tb, dir, "sa-signer", "service-account-ca", &x509.Certificate{
		Subject: pkix.Name{CommonName: "service-account-signer"}, KeyUsage: x509.KeyUsageDigitalSignature,
	})
	ca, err := os.ReadFile(caFile)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		tb.Fatal(err)
	}
	// envtest generates its own certificates unless the directory has apiserver.crt; the flags below name the files.
	writeFile(tb, filepath.Join(dir, "apiserver.crt"), cert)
	api := env.ControlPlane.GetAPIServer()
	api.CertDir = dir
	api.SecureServing.CA = ca
	args := api.Configure()
	args.Set("tls-cert-file", certFile)
	args.Set("tls-private-key-file", keyFile)
	args.Set("service-account-key-file", saCert)
	args.Set("service-account-signing-key-file", saKey)
	args.Set("bind-address", "0.0.0.0")
	args.Set("advertise-address", ip.String())
	args.Disable("disable-admission-plugins")
}
