package oci

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Errors callers test with errors.Is.
var (
	// ErrUnauthorized: the registry refused the credentials (or their absence).
	ErrUnauthorized = errors.New("the registry refused the credentials")
	// ErrNotFound: no such repository or manifest in the registry.
	ErrNotFound = errors.New("not found in the registry")
	// ErrUnreachable: the registry could not be reached or spoke another protocol.
	ErrUnreachable = errors.New("cannot reach the registry")
	// ErrDigestMismatch: content does not have the digest that names it.
	ErrDigestMismatch = errors.New("digest mismatch")
)

// Options is how marina talks to registries; the zero value is HTTPS with the system's CAs and the Docker
// configuration's credentials.
type Options struct {
	// PlainHTTP talks HTTP instead of HTTPS (a registry on loopback without TLS).
	PlainHTTP bool
	// CAFile is a PEM file of CAs trusted besides the system's (a private registry).
	CAFile string
	// DockerConfig is the Docker configuration file holding credentials; default $DOCKER_CONFIG/config.json, else
	// ~/.docker/config.json. A missing file means anonymous access.
	DockerConfig string
}

// repository is ref's repository on the registry, authenticating with the Docker configuration's credentials.
func (o Options) repository(ref Reference) (*remote.Repository, error) {
	repo, err := remote.NewRepository(ref.Host + "/" + ref.Repository)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", ref, err)
	}
	repo.PlainHTTP = o.PlainHTTP
	transport, err := o.Transport()
	if err != nil {
		return nil, err
	}
	var store credentials.Store
	if o.DockerConfig != "" {
		store, err = credentials.NewStore(o.DockerConfig, credentials.StoreOptions{})
	} else {
		store, err = credentials.NewStoreFromDocker(credentials.StoreOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("reading registry credentials from the Docker configuration: %w (fix the file, or set DOCKER_CONFIG to a directory holding a valid config.json)", err)
	}
	client := &auth.Client{
		Client:     &http.Client{Transport: retry.NewTransport(transport)},
		Cache:      auth.NewCache(),
		Credential: credentials.Credential(store),
	}
	client.SetUserAgent("marina")
	repo.Client = client
	return repo, nil
}

// Transport is an HTTP transport trusting the system's CAs and CAFile's.
func (o Options) Transport() (*http.Transport, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if o.CAFile == "" {
		return transport, nil
	}
	pem, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", o.CAFile)
	}
	transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return transport, nil
}

// explain turns a registry error into one that says what to do, wrapping one of the errors above. what says what
// was being done ("pushing fraud-detector@1.0.0 to HOST/REPO").
func (o Options) explain(err error, what string, ref Reference) error {
	var resp *errcode.ErrorResponse
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var opErr *net.OpError
	switch {
	case errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%s: %w (%d %s): log in with `docker login %s` or `oras login %s` (marina reads the Docker configuration, $DOCKER_CONFIG or ~/.docker/config.json)",
			what, ErrUnauthorized, resp.StatusCode, http.StatusText(resp.StatusCode), ref.Host, ref.Host)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%s: %w: %s asks for credentials and the Docker configuration has none for it: log in with `docker login %s` or `oras login %s`",
			what, ErrUnauthorized, ref.Host, ref.Host, ref.Host)
	case errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound, errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("%s: %w: %s has no such artifact; check the reference, or push it with marina model push", what, ErrNotFound, ref)
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostname):
		return fmt.Errorf("%s: %w: %s's TLS certificate is not trusted (%v); pass --ca-file with the CA that issued it", what, ErrUnreachable, ref.Host, err)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%s: %w: %s speaks plain HTTP; pass --plain-http (loopback and test registries only)", what, ErrUnreachable, ref.Host)
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &opErr):
		hint := ""
		if !o.PlainHTTP {
			hint = " (a registry without TLS needs --plain-http)"
		}
		return fmt.Errorf("%s: %w %s: %v; is the registry running and the address right?%s", what, ErrUnreachable, ref.Host, rootCause(err), hint)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// rootCause is the innermost error, without the URL and operation wrappers that repeat the address.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
