package analysis

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// HTTPTimeout bounds every HTTP request to Prometheus, whatever the caller's context allows.
const HTTPTimeout = QueryTimeout + 5*time.Second

// maxResponseBytes bounds what is read of one response: an analysis query returns a few numbers.
const maxResponseBytes = 16 << 20

// ErrResponseTooLarge is returned by queries whose response is larger than 16 MiB.
var ErrResponseTooLarge = errors.New("the Prometheus response is larger than 16 MiB")

// NewClient returns a Querier for the Prometheus server at address (http or https, with an optional path prefix).
// Credentials in the address (https://user:password@host) are sent as basic auth and kept out of the URL, so no
// error ever contains them; nor does the error for an invalid address.
func NewClient(address string) (Querier, error) {
	u, err := url.Parse(address)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // without the address, which may hold a password
		}
		return nil, fmt.Errorf("prometheus address is not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		// Not echoed: in "user:password@host" the password would be the URL's opaque part, which Redacted keeps.
		return nil, errors.New("prometheus address: want http://host:port or https://host:port")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	rt := limitedTransport{next: transport, user: u.User}
	u.User = nil
	c, err := api.NewClient(api.Config{
		Address: u.String(),
		Client:  &http.Client{Transport: rt, Timeout: HTTPTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("prometheus address %s: %w", u.Redacted(), err)
	}
	return promv1.NewAPI(c), nil
}

// limitedTransport adds basic auth and bounds the size of responses.
type limitedTransport struct {
	next http.RoundTripper
	user *url.Userinfo
}

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.user != nil {
		req = req.Clone(req.Context())
		password, _ := t.user.Password()
		req.SetBasicAuth(t.user.Username(), password)
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
