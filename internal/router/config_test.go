package router

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const validConfig = `listen: 127.0.0.1:8080
metrics: 127.0.0.1:9100
model: fraud-detector
protocol: oip-v2
upstreams:
  - {version: 1.0.0, url: "http://127.0.0.1:9001", weight: 90}
  - {version: 1.1.0, url: "http://127.0.0.1:9002", weight: 10}
shadow: {version: 1.2.0, url: "http://127.0.0.1:9003", percent: 100, queue: 1024, timeout: 2s}
`

func TestParseAcceptsTheDesignExampleAndFillsDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse("router.yaml", []byte(validConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.maxBody != DefaultMaxBody || c.Shadow.Workers != DefaultWorkers || c.Shadow.Timeout.Duration != 2*time.Second ||
		c.Timeouts.Drain.Duration != DefaultDrainTimeout || c.MaxConnsPerHost != DefaultMaxConnsPerHost {
		t.Errorf("defaults not filled: %+v", c)
	}
}

func TestParseNamesTheFieldThatIsWrong(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, edit, want string }{
		{"unknown fields are rejected", "extra: 1\n", `unknown field "extra"`},
		{"listen is required", "listen: \"\"\n", "listen: required"},
		{"metrics must be host:port", "metrics: nine\n", "metrics: \"nine\": want host:port"},
		{"the protocol is one of two", "protocol: grpc\n", "protocol: \"grpc\""},
		{"weights are not negative", "upstreams: [{version: a, url: \"http://h:1\", weight: -1}]\n", "upstreams[0].weight: -1"},
		{"some weight is positive", "upstreams: [{version: a, url: \"http://h:1\", weight: 0}]\n", "upstreams: every weight is 0"},
		{"urls are http", "upstreams: [{version: a, url: \"ftp://h\", weight: 1}]\n", "upstreams[0].url: \"ftp://h\""},
		{"versions are unique across upstreams and shadow", "shadow: {version: 1.0.0, url: \"http://h:1\", percent: 5}\n", "shadow.version: 1.0.0 is also upstreams[0]"},
		{"percent is at most 100", "shadow: {version: s, url: \"http://h:1\", percent: 101}\n", "shadow.percent: 101"},
		{"timeouts are durations", "shadow: {version: s, url: \"http://h:1\", percent: 1, timeout: soon}\n", "want a duration"},
		{"the queue is not negative", "shadow: {version: s, url: \"http://h:1\", percent: 1, queue: -1}\n", "shadow.queue: -1"},
		{"the log sample is a fraction", "shadow: {version: s, url: \"http://h:1\", percent: 1, log: {sample: 2}}\n", "shadow.log.sample: 2"},
		{"sticky names a header or a cookie", "sticky: {}\n", "sticky: set header or cookie"},
		{"maxBody is a positive size", "maxBody: 0\n", "maxBody: 0"},
		{"timeouts are not negative", "timeouts: {drain: -1s}\n", "timeouts.drain: -1s"},
		{"the connection cap is not negative", "maxConnsPerHost: -1\n", "maxConnsPerHost: -1: want 0 (default 1024) or more"},
		{"the idle pool is no longer sized apart", "maxIdleConnsPerHost: 256\n", `unknown field "maxIdleConnsPerHost"`},
		{"health counts errors from 1", "health: {consecutiveErrors: -1}\n", "health.consecutiveErrors: -1: want 0 (default 5) or more"},
		{"health backs off for a positive time", "health: {backoff: -1s}\n", "health.backoff: -1s: must not be negative"},
		{"health failover is a boolean", "health: {failover: sometimes}\n", "health.failover"},
		{"health has no other fields", "health: {interval: 5s}\n", `unknown field "interval"`},
		{"probes name their directory", "probes: {interval: 5s}\n", "probes.dir: required"},
		{"probes are OIP v2 requests", "protocol: kserve-v1\nprobes: {dir: samples}\n", "probes: sample requests are Open Inference Protocol v2 bodies"},
		{"the probe interval is not negative", "probes: {dir: samples, interval: -1s}\n", "probes.interval: -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("router.yaml", []byte(edit(validConfig, tc.edit)))
			if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "router.yaml: ") {
				t.Errorf("got %v, want an ErrInvalidConfig naming router.yaml and %q", err, tc.want)
			}
		})
	}
}

// edit replaces the top-level keys of base that line sets (or adds line).
func edit(base, line string) string {
	key, _, _ := strings.Cut(line, ":")
	var out []string
	skip := false
	for l := range strings.Lines(base) {
		if !strings.HasPrefix(l, " ") {
			skip = strings.HasPrefix(l, key+":")
		}
		if !skip {
			out = append(out, l)
		}
	}
	return strings.Join(out, "") + line
}

func TestLoadRefusesHugeFiles(t *testing.T) {
	t.Parallel()
	f := writeFile(t, t.TempDir(), "router.yaml", validConfig+"#"+strings.Repeat("x", maxConfigSize))
	if _, err := Load(f); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("got %v, want ErrInvalidConfig", err)
	}
}
