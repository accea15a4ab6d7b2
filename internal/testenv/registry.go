package testenv

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/marina-dev/marina/internal/prereq"
	"github.com/marina-dev/marina/internal/source"
	"github.com/marina-dev/marina/internal/testenv/proc"
)

// RegistryVersion is the CNCF distribution version hack/registry.sh builds; it names the cache directory.
const RegistryVersion = "v3.1.2"

// RegistryOptions selects how StartRegistry's registry is protected.
type RegistryOptions struct {
	// BasicAuth requires HTTP basic authentication (an htpasswd file, bcrypt) with Registry.Username and
	// Registry.Password.
	BasicAuth bool
	// TLS serves HTTPS with a certificate for 127.0.0.1 and localhost, issued by a CA made for the test and written
	// to Registry.CAFile. Without it the registry speaks plain HTTP (clients need --plain-http).
	TLS bool
	// HostIP listens on the host's first non-loopback IPv4 address instead of 127.0.0.1, so that Pods on a real
	// node (StartRealNode), whose 127.0.0.1 is their own, reach it too. Not with TLS.
	HostIP bool
}

// Registry is a CNCF distribution registry run by a test on loopback.
type Registry struct {
	// Host is the registry's 127.0.0.1:PORT (or HOSTIP:PORT), as references name it (Host/repo@sha256:…).
	Host string
	// CAFile is the PEM file of the CA that issued the registry's certificate (with RegistryOptions.TLS).
	CAFile string
	// Username and Password are the credentials the registry accepts (with RegistryOptions.BasicAuth).
	Username, Password string
	// Storage is the registry's storage directory (filesystem driver), inside the test's TempDir.
	Storage string

	proc *proc.Process
	dir  string
}

// RegistryBinary returns the path of the registry binary hack/registry.sh builds and prints: MARINA_REGISTRY_BIN,
// or the script's default path in the cache. Without it the test is skipped with a hint, or fails where
// prerequisites are required (see package prereq).
func RegistryBinary(tb TB) string {
	tb.Helper()
	bin := os.Getenv("MARINA_REGISTRY_BIN")
	if bin == "" {
		cache, err := source.CacheDir()
		if err != nil {
			tb.Fatal(err)
		}
		bin = filepath.Join(cache, "registry", RegistryVersion, "registry")
	}
	if _, err := os.Stat(bin); err != nil {
		prereq.Missing(tb, bin+" not found: run `bash hack/registry.sh` (~3 min once) or set MARINA_REGISTRY_BIN to its output")
	}
	return bin
}

// StartRegistry runs a registry for the test on a free loopback port, its storage in the test's TempDir, and stops
// it when the test ends. It returns once the registry answers GET /v2/.
func StartRegistry(tb TB, o RegistryOptions) *Registry {
	tb.Helper()
	bin := RegistryBinary(tb)
	r := &Registry{Host: freeAddr(tb), dir: tb.TempDir()}
	if o.HostIP {
		ip := hostIP()
		if ip == nil || o.TLS {
			tb.Fatal("RegistryOptions.HostIP: the host has no non-loopback IPv4 address, or TLS was asked for too")
		}
		_, port, _ := net.SplitHostPort(r.Host)
		r.Host = net.JoinHostPort(ip.String(), port)
	}
	r.Storage = filepath.Join(r.dir, "storage")
	config := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog: {disabled: true}\n"+
		"storage:\n  filesystem: {rootdirectory: %q}\n  delete: {enabled: true}\n"+
		"http:\n  addr: %q\n  secret: marina-test\n", r.Storage, r.Host)
	if o.TLS {
		cert, key := r.writeCertificates(tb)
		config += fmt.Sprintf("  tls: {certificate: %q, key: %q}\n", cert, key)
	}
	if o.BasicAuth {
		r.Username, r.Password = "marina", rand.Text()
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			tb.Fatal(err)
		}
		htpasswd := filepath.Join(r.dir, "htpasswd")
		writeFile(tb, htpasswd, []byte(r.Username+":"+string(hash)+"\n"))
		config += fmt.Sprintf("auth:\n  htpasswd: {realm: marina-test, path: %q}\n", htpasswd)
	}
	writeFile(tb, filepath.Join(r.dir, "config.yml"), []byte(config))
	r.start(tb, bin)
	tb.Cleanup(func() {
		r.Stop()
		if tb.Failed() {
			log, _ := os.ReadFile(filepath.Join(r.dir, "registry.log"))
			tb.Logf("registry.log:\n%s", log[max(0, len(log)-4000):])
		}
	})
	r.waitReady(tb)
	return r
}

// start runs the registry process; the kernel kills it if the test binary dies first.
func (r *Registry) start(tb TB, bin string) {
	tb.Helper()
	cmd := exec.Command(bin, "serve", filepath.Join(r.dir, "config.yml"))
	// distribution exports OpenTelemetry traces to an OTLP collector by default; there is none.
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	p, err := proc.Start(cmd, filepath.Join(r.dir, "registry.log"))
	if err != nil {
		tb.Fatalf("the registry: %v", err)
	}
	r.proc = p
}

// Stop stops the registry (SIGTERM, then SIGKILL after 10 s), as an outage would; it does nothing when stopped.
func (r *Registry) Stop() {
	if r.proc != nil {
		r.proc.Stop(10 * time.Second)
	}
}

// Client is an HTTP client that trusts the registry's CA (a plain client without TLS).
func (r *Registry) Client(tb TB) *http.Client {
	tb.Helper()
	if r.CAFile == "" {
		return &http.Client{}
	}
	pem, err := os.ReadFile(r.CAFile)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// URL is the registry's base URL, http:// or https://.
func (r *Registry) URL() string {
	if r.CAFile != "" {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// waitReady polls GET /v2/ until the registry answers (200, or 401 behind basic auth), for up to 30 s.
func (r *Registry) waitReady(tb TB) {
	tb.Helper()
	waitServing(tb, "the registry", r.Client(tb), r.URL()+"/v2/", r.proc, 30*time.Second, func() string {
		log, _ := os.ReadFile(filepath.Join(r.dir, "registry.log"))
		return string(log)
	}, http.StatusOK, http.StatusUnauthorized)
}

// writeCertificates makes a CA (written to r.CAFile) and a server certificate for 127.0.0.1 and localhost, and
// returns the paths of the server's certificate and key.
func (r *Registry) writeCertificates(tb TB) (certFile, keyFile string) {
	tb.Helper()
	r.CAFile, certFile, keyFile = issueCertificate(tb, r.dir, "server", "marina test CA", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return certFile, keyFile
}

// freeAddr returns a loopback host:port nothing listens on now.
func freeAddr(tb TB) string {
	tb.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePorts(tb, 1)[0])
}

// writeFile writes a file of the test's, readable by the processes it starts only.
func writeFile(tb TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}
