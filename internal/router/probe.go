package router

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Probes are synthetic traffic: the model's sample requests, sent to every version on a timer, so a version that
// cannot answer them is seen (and marked down by passive health checking) before users are sent to it, and a shadow
// is compared with the versions even while live traffic is scarce.
type Probes struct {
	// Dir holds the sample requests: Open Inference Protocol v2 request bodies, *.json (the model repository's
	// models/<model>/samples). A relative path is relative to the configuration file.
	Dir string `json:"dir"`
	// Interval is the time between two rounds (default 30s).
	Interval Duration `json:"interval,omitempty"`
}

const (
	// DefaultProbeInterval is probes.interval's default.
	DefaultProbeInterval = 30 * time.Second
	// maxProbes caps the sample requests of one round.
	maxProbes = 100
)

// Probe results of marina_router_probes_total.
const (
	probeOK     = "ok"
	probeFailed = "failed"
)

// sample is one probe request body.
type sample struct {
	name string
	body []byte
}

func (p *Probes) validate(protocol string) error {
	if protocol != ProtocolOIPv2 {
		return fieldError("probes", "sample requests are Open Inference Protocol v2 bodies: probes need protocol %s", ProtocolOIPv2)
	}
	if p.Dir == "" {
		return fieldError("probes.dir", "required: the directory of the sample requests (models/<model>/samples)")
	}
	if p.Interval.Duration < 0 {
		return fieldError("probes.interval", "%s: must not be negative", p.Interval.Duration)
	}
	if p.Interval.Duration == 0 {
		p.Interval.Duration = DefaultProbeInterval
	}
	return nil
}

// readSamples reads the sample requests of dir in name order, each at most limit bytes.
func readSamples(dir string, limit int64) ([]sample, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fieldError("probes.dir", "%s has no sample requests (*.json)", dir)
	}
	if len(names) > maxProbes {
		return nil, fieldError("probes.dir", "%s has %d sample requests: at most %d", dir, len(names), maxProbes)
	}
	slices.Sort(names)
	out := make([]sample, 0, len(names))
	for _, name := range names {
		b, err := readLimited(name, limit)
		if err != nil {
			return nil, fieldError("probes.dir", "%v", err)
		}
		out = append(out, sample{name: filepath.Base(name), body: b})
	}
	return out, nil
}

// readLimited reads a regular file of at most limit bytes.
func readLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than maxBody (%d bytes)", name, limit)
	}
	return b, nil
}

// probe sends a round of probes every interval until ctx ends.
func (rt *Router) probe(ctx context.Context) {
	for {
		st := rt.state.Load()
		interval := DefaultProbeInterval
		if p := st.cfg.Probes; p != nil {
			interval = p.Interval.Duration
			rt.probeRound(ctx, st)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// probeRound sends every sample to every version of st, pinned to it: each answer is counted, a failure logged,
// and with a shadow each is mirrored and compared as a live request would be.
func (rt *Router) probeRound(ctx context.Context, st *state) {
	path := "/v2/models/" + url.PathEscape(st.cfg.Model) + "/infer"
	for _, u := range st.cfg.Upstreams {
		for _, s := range st.samples {
			if ctx.Err() != nil {
				return
			}
			ctx := newRequestCtx(nil)
			ctx.SetUserValue(probeKey{}, true)
			ctx.Request.Header.SetMethod(http.MethodPost)
			ctx.Request.SetRequestURI(path)
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.Header.Set(VersionHeader, u.Version)
			ctx.Request.SetBody(s.body)
			rt.serve(ctx)
			status, body := ctx.Response.StatusCode(), ctx.Response.Body()
			result := probeOK
			if status < 200 || status > 299 {
				result = probeFailed
				rt.log.Warn("probe failed", "model", st.cfg.Model, "version", u.Version, "sample", s.name, "status", status,
					"body", strings.TrimSpace(string(body[:min(len(body), 512)])))
			}
			rt.metrics.probes.WithLabelValues(st.cfg.Model, u.Version, result).Inc()
		}
	}
}
