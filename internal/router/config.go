package router

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// Protocols the router compares responses of.
const (
	// ProtocolOIPv2 is the Open Inference Protocol v2: {"outputs": [{"name","shape","datatype","data"}]}.
	ProtocolOIPv2 = "oip-v2"
	// ProtocolKServeV1 is KServe's v1 protocol: {"predictions": [...]}.
	ProtocolKServeV1 = "kserve-v1"
)

// VersionHeader names the version that answered a response; on a request it pins the version that answers.
const VersionHeader = "X-Marina-Version"

// maxConfigSize caps the router configuration file.
const maxConfigSize = 1 << 20

// Defaults for fields a configuration leaves out.
const (
	// DefaultMaxBody is maxBody's default: 8 MiB.
	DefaultMaxBody = 8 << 20
	// DefaultQueue is shadow.queue's default.
	DefaultQueue = 1024
	// DefaultQueueBytes is shadow.queueBytes's default: 64 MiB of bodies waiting.
	DefaultQueueBytes = 64 << 20
	// DefaultWorkers is shadow.workers's default.
	DefaultWorkers = 8
	// DefaultShadowTimeout is shadow.timeout's default.
	DefaultShadowTimeout = 2 * time.Second
	// DefaultUpstreamTimeout is timeouts.upstream's default.
	DefaultUpstreamTimeout = 60 * time.Second
	// DefaultReadHeaderTimeout is timeouts.readHeader's default.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout is timeouts.idle's default.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultDrainTimeout is timeouts.drain's default.
	DefaultDrainTimeout = 10 * time.Second
	// DefaultMaxConnsPerHost is maxConnsPerHost's default, Envoy's default max_connections per upstream cluster.
	DefaultMaxConnsPerHost = 1024
	// DefaultConsecutiveErrors is health.consecutiveErrors's default, Envoy's outlier detection default.
	DefaultConsecutiveErrors = 5
	// DefaultHealthBackoff is health.backoff's default.
	DefaultHealthBackoff = 10 * time.Second
)

// ErrInvalidConfig is wrapped by every error about a router configuration's content.
var ErrInvalidConfig = errors.New("invalid router configuration")

// Config is one router: where it listens, the versions it splits traffic between and the shadow it mirrors to.
type Config struct {
	// Listen is the proxy's address, e.g. 127.0.0.1:8080.
	Listen string `json:"listen"`
	// Metrics is the address of the separate /metrics listener; empty for none.
	Metrics string `json:"metrics,omitempty"`
	// Model names the model in metrics and logs.
	Model string `json:"model"`
	// Protocol is how responses are compared: oip-v2 (default) or kserve-v1.
	Protocol string `json:"protocol,omitempty"`
	// Upstreams are the versions that answer, with their weights.
	Upstreams []Upstream `json:"upstreams"`
	// Shadow is the version requests are mirrored to; its answers are compared, never returned.
	Shadow *Shadow `json:"shadow,omitempty"`
	// Sticky keeps a client on one version while the weights stay the same.
	Sticky *Sticky `json:"sticky,omitempty"`
	// MaxBody is the largest request body (a quantity such as 8Mi); larger ones get 413.
	MaxBody *resource.Quantity `json:"maxBody,omitempty"`
	// MaxConnsPerHost caps the connections to each upstream address, kept alive and closed after 90 s idle;
	// requests beyond it wait for one.
	MaxConnsPerHost int `json:"maxConnsPerHost,omitempty"`
	// Timeouts bound each phase of a request.
	Timeouts Timeouts `json:"timeouts,omitempty"`
	// Health marks a version that stops answering down (passive health checking).
	Health Health `json:"health,omitempty"`
	// Probes sends the model's sample requests to every version on a timer.
	Probes *Probes `json:"probes,omitempty"`

	maxBody int64 // resolved by validate
}

// Upstream is one version that answers requests.
type Upstream struct {
	// Version is the model version this upstream serves.
	Version string `json:"version"`
	// URL is the upstream's base URL, http://host:port.
	URL string `json:"url"`
	// Weight is the share of unpinned traffic, relative to the other weights.
	Weight int `json:"weight"`
}

// Shadow is the version requests are mirrored to.
type Shadow struct {
	// Version is the model version the shadow serves.
	Version string `json:"version"`
	// URL is the shadow's base URL.
	URL string `json:"url"`
	// Percent of requests mirrored, 0 to 100.
	Percent float64 `json:"percent"`
	// Queue is how many mirrored requests may wait; more are dropped and counted.
	Queue int `json:"queue,omitempty"`
	// QueueBytes caps the request bodies waiting in the queue.
	QueueBytes int64 `json:"queueBytes,omitempty"`
	// Workers send mirrored requests concurrently.
	Workers int `json:"workers,omitempty"`
	// Timeout bounds one mirrored request; slower ones are dropped and counted.
	Timeout Duration `json:"timeout,omitempty"`
	// Log samples disagreements into the router's log.
	Log *DisagreementLog `json:"log,omitempty"`
}

// DisagreementLog samples shadow disagreements into the log.
type DisagreementLog struct {
	// Sample is the fraction of disagreements logged, 0 to 1.
	Sample float64 `json:"sample"`
	// Bodies logs the request and both response bodies (truncated); they are redacted unless set.
	Bodies bool `json:"bodies,omitempty"`
}

// Sticky routes every request with the same key to the same version while the weights stay the same.
type Sticky struct {
	// Header whose value is the key, e.g. X-User-Id.
	Header string `json:"header,omitempty"`
	// Cookie whose value is the key, when Header is empty or absent from the request.
	Cookie string `json:"cookie,omitempty"`
}

// Health is passive health checking: a version that fails consecutiveErrors requests in a row without answering
// (connection refused, timeout, connection broken; an HTTP error status is an answer) is marked down for backoff.
// Then one request may try it again: an answer marks it up, another transport error down for backoff again.
type Health struct {
	// ConsecutiveErrors marks a version down after this many transport errors in a row (default 5).
	ConsecutiveErrors int `json:"consecutiveErrors,omitempty"`
	// Backoff is how long a version stays down (default 10s).
	Backoff Duration `json:"backoff,omitempty"`
	// Failover sends the requests a down version would get to the other versions of the split, by their weights.
	// Off by default: the split is the rollout's decision, so a down version's share gets 503 at once (with
	// Retry-After) instead. Requests pinned with X-Marina-Version always go to their version.
	Failover bool `json:"failover,omitempty"`
}

// Timeouts bound each phase of a request.
type Timeouts struct {
	// Upstream bounds the wait for an upstream's response headers.
	Upstream Duration `json:"upstream,omitempty"`
	// ReadHeader bounds reading a client's request headers.
	ReadHeader Duration `json:"readHeader,omitempty"`
	// Idle closes client keep-alive connections idle this long.
	Idle Duration `json:"idle,omitempty"`
	// Drain is how long requests in flight may finish after a shutdown starts.
	Drain Duration `json:"drain,omitempty"`
}

// Duration is a time.Duration written as "2s" or "500ms".
type Duration struct{ time.Duration }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 2s or 500ms, not %s", b)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// Load reads and checks the router configuration file.
func Load(file string) (*Config, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", file, maxConfigSize, ErrInvalidConfig)
	}
	c, err := Parse(file, data)
	if err == nil && c.Probes != nil && !filepath.IsAbs(c.Probes.Dir) {
		c.Probes.Dir = filepath.Join(filepath.Dir(file), c.Probes.Dir)
	}
	return c, err
}

// Parse decodes a router configuration strictly (unknown fields are errors) and checks it.
func Parse(file string, data []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %v: %w", file, err, ErrInvalidConfig)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &c, nil
}

// fieldError names the field that is wrong and what to do.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalidConfig)
}

// validate checks c and fills its defaults.
func (c *Config) validate() error {
	if err := checkAddr("listen", c.Listen, true); err != nil {
		return err
	}
	if err := checkAddr("metrics", c.Metrics, false); err != nil {
		return err
	}
	if c.Model == "" {
		return fieldError("model", "required: the model's name, used in metrics")
	}
	switch c.Protocol {
	case "":
		c.Protocol = ProtocolOIPv2
	case ProtocolOIPv2, ProtocolKServeV1:
	default:
		return fieldError("protocol", "%q: want %s or %s", c.Protocol, ProtocolOIPv2, ProtocolKServeV1)
	}
	if len(c.Upstreams) == 0 {
		return fieldError("upstreams", "list at least one version: {version, url, weight}")
	}
	seen := map[string]string{}
	total := 0
	for i, u := range c.Upstreams {
		field := fmt.Sprintf("upstreams[%d]", i)
		if err := checkVersion(field, u.Version, u.URL, seen); err != nil {
			return err
		}
		if u.Weight < 0 || u.Weight > 1_000_000 {
			return fieldError(field+".weight", "%d: want 0 to 1000000", u.Weight)
		}
		total += u.Weight
	}
	if total == 0 {
		return fieldError("upstreams", "every weight is 0: give at least one version a positive weight")
	}
	if s := c.Shadow; s != nil {
		if err := s.validate(seen); err != nil {
			return err
		}
	}
	if p := c.Probes; p != nil {
		if err := p.validate(c.Protocol); err != nil {
			return err
		}
	}
	if s := c.Sticky; s != nil && s.Header == "" && s.Cookie == "" {
		return fieldError("sticky", "set header or cookie (or remove sticky)")
	}
	c.maxBody = DefaultMaxBody
	if c.MaxBody != nil {
		n, ok := c.MaxBody.AsInt64()
		if !ok || n < 1 {
			return fieldError("maxBody", "%s: want a positive size such as 8Mi", c.MaxBody)
		}
		c.maxBody = n
	}
	if c.MaxConnsPerHost < 0 {
		return fieldError("maxConnsPerHost", "%d: want 0 (default %d) or more", c.MaxConnsPerHost, DefaultMaxConnsPerHost)
	}
	if c.MaxConnsPerHost == 0 {
		c.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if h := &c.Health; h.ConsecutiveErrors < 0 {
		return fieldError("health.consecutiveErrors", "%d: want 0 (default %d) or more", h.ConsecutiveErrors, DefaultConsecutiveErrors)
	} else if h.ConsecutiveErrors == 0 {
		h.ConsecutiveErrors = DefaultConsecutiveErrors
	}
	t := &c.Timeouts
	for _, d := range []struct {
		name string
		v    *Duration
		def  time.Duration
	}{{"timeouts.upstream", &t.Upstream, DefaultUpstreamTimeout}, {"timeouts.readHeader", &t.ReadHeader, DefaultReadHeaderTimeout},
		{"timeouts.idle", &t.Idle, DefaultIdleTimeout}, {"timeouts.drain", &t.Drain, DefaultDrainTimeout}, {"health.backoff", &c.Health.Backoff, DefaultHealthBackoff}} {
		if d.v.Duration < 0 {
			return fieldError(d.name, "%s: must not be negative", d.v.Duration)
		}
		if d.v.Duration == 0 {
			d.v.Duration = d.def
		}
	}
	return nil
}

func (s *Shadow) validate(seen map[string]string) error {
	if err := checkVersion("shadow", s.Version, s.URL, seen); err != nil {
		return err
	}
	if s.Percent < 0 || s.Percent > 100 {
		return fieldError("shadow.percent", "%g: want 0 to 100", s.Percent)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"queue", int64(s.Queue)}, {"queueBytes", s.QueueBytes}, {"workers", int64(s.Workers)}, {"timeout", int64(s.Timeout.Duration)}} {
		if f.v < 0 {
			return fieldError("shadow."+f.name, "%d: must not be negative (0 for the default)", f.v)
		}
	}
	if s.Queue == 0 {
		s.Queue = DefaultQueue
	}
	if s.QueueBytes == 0 {
		s.QueueBytes = DefaultQueueBytes
	}
	if s.Workers == 0 {
		s.Workers = DefaultWorkers
	}
	if s.Timeout.Duration == 0 {
		s.Timeout.Duration = DefaultShadowTimeout
	}
	if l := s.Log; l != nil && (l.Sample < 0 || l.Sample > 1) {
		return fieldError("shadow.log.sample", "%g: want a fraction from 0 to 1", l.Sample)
	}
	return nil
}

// checkVersion checks one version's name and URL and that no other upstream has the same version.
func checkVersion(field, version, rawURL string, seen map[string]string) error {
	if version == "" {
		return fieldError(field+".version", "required")
	}
	if strings.ContainsAny(version, " \t\r\n,") {
		return fieldError(field+".version", "%q: no spaces or commas", version)
	}
	if other, ok := seen[version]; ok {
		return fieldError(field+".version", "%s is also %s: each version once", version, other)
	}
	seen[version] = field
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fieldError(field+".url", "%q: want http://host:port, optionally with a path prefix", rawURL)
	}
	return nil
}

// checkAddr checks a host:port listen address.
func checkAddr(field, addr string, required bool) error {
	if addr == "" {
		if required {
			return fieldError(field, "required: host:port, e.g. 127.0.0.1:8080")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fieldError(field, "%q: want host:port, e.g. 127.0.0.1:8080", addr)
	}
	return nil
}
