package analysis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// HTTPTimeout bounds every HTTP request to Prometheus, whatever the caller's context allows.
const HTTPTimeout = QueryTimeout + 5*time.Second

// maxResponseBytes bounds what is read of one response: an analysis query returns a few numbers.
const maxResponseBytes = 16 << 20

// ErrResponseTooLarge is returned by queries whose response is larger than 16 MiB.
var ErrResponseTooLarge = errors.New("the Prometheus response is larger than 16 MiB")

// Auth is what Prometheus is asked with: basic auth (Username, Password) or a bearer Token; zero for none.
type Auth struct {
	Username, Password, Token string
}

// ErrCredentialsInAddress means a Prometheus address carries user:password@: credentials belong in a Secret.
var ErrCredentialsInAddress = errors.New("prometheus address must not hold credentials (user:password@): put them in a Secret (keys username and password, or token) and name it in prometheus.secretRef")

// ParseAddress checks a Prometheus address as NewClient takes it — http or https, a host, an optional path prefix,
// no credentials — and returns it parsed. Its errors never contain the address's userinfo.
func ParseAddress(address string) (*url.URL, error) {
	u, err := url.Parse(address)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the address, which may hold a password
		}
		return nil, fmt.Errorf("prometheus address is not a URL: %w", err)
	}
	// "http://http://host:9090" parses with host "http:" (an empty port): a scheme written twice.
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || strings.HasSuffix(u.Host, ":") {
		// Not echoed: in "user:password@host" the password would be the URL's opaque part, which Redacted keeps.
		return nil, errors.New("prometheus address: want http://host:port or https://host:port")
	}
	if u.User != nil {
		return nil, ErrCredentialsInAddress
	}
	return u, nil
}

// RangeQuerier is a Querier that also runs range queries: what a chart of a measured value over time needs.
type RangeQuerier interface {
	Querier
	// QueryRange runs a range query over r.
	QueryRange(ctx context.Context, query string, r promv1.Range, opts ...promv1.Option) (model.Value, promv1.Warnings, error)
}

// NewClient returns a RangeQuerier for the Prometheus server at address (see ParseAddress), asking with auth. No
// error ever contains the address's userinfo or auth, and no response is read past 16 MiB.
func NewClient(address string, auth Auth) (RangeQuerier, error) {
	u, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	c, err := api.NewClient(api.Config{
		Address: u.String(),
		Client:  &http.Client{Transport: limitedTransport{next: transport, auth: auth}, Timeout: HTTPTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("prometheus address %s: %w", u.Redacted(), err)
	}
	return promv1.NewAPI(c), nil
}

// limitedTransport adds the credentials and bounds the size of responses.
type limitedTransport struct {
	next http.RoundTripper
	auth Auth
}

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case t.auth.Token != "":
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+t.auth.Token)
	case t.auth.Username != "" || t.auth.Password != "":
		req = req.Clone(req.Context())
		req.SetBasicAuth(t.auth.Username, t.auth.Password)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: maxResponseBytes}
	return resp, nil
}

// limitedBody fails reads past its limit instead of truncating, which would give a confusing JSON error.
type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var probe [1]byte
		n, err := b.ReadCloser.Read(probe[:])
		if n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
