package testenv

import (
	"crypto/x509"
	"crypto/x509/pkix"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// frontProxyClient is the common name of the client certificate kube-apiserver's aggregator presents to aggregated
// API servers (the name kubeadm gives it).
const frontProxyClient = "front-proxy-client"

// configureFrontProxy sets up the aggregation layer's authentication as kubeadm does: a front-proxy CA, a client
// certificate signed by it that kube-apiserver presents when it proxies a request to an aggregated API server
// (metrics-server), and the request-header flags that tell that server which user and groups the request is for.
// Without them metrics-server sees every proxied request as anonymous and refuses the HPA controller's. The files
// go into dir.
func configureFrontProxy(tb TB, env *envtest.Environment, dir string) {
	tb.Helper()
	ca, cert, key := issueCertificate(tb, dir, "front-proxy-client", "front-proxy-ca", &x509.Certificate{
		Subject: pkix.Name{CommonName: frontProxyClient}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	args := env.ControlPlane.GetAPIServer().Configure()
	for flag, value := range map[string]string{
		"requestheader-client-ca-file":       ca,
		"requestheader-allowed-names":        frontProxyClient,
		"requestheader-username-headers":     "X-Remote-User",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",
		"proxy-client-cert-file":             cert,
		"proxy-client-key-file":              key,
	} {
		args.Set(flag, value)
	}
}
