package router

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// health is a version's passive health: transport errors in a row, and until when it is down. It survives reloads
// that keep the version at the same URL.
type health struct {
	fails     atomic.Int64
	downUntil atomic.Int64 // unix nanoseconds; 0 when the version was never marked down
}

// down reports whether the version is marked down at now, and until when.
func (h *health) down(now time.Time) (bool, time.Time) {
	until := h.downUntil.Load()
	return until > now.UnixNano(), time.Unix(0, until)
}

// failure counts a transport error; it reports whether this one marked the version down.
func (h *health) failure(now time.Time, cfg Health) bool {
	if h.fails.Add(1) < int64(cfg.ConsecutiveErrors) {
		return false
	}
	h.downUntil.Store(now.Add(cfg.Backoff.Duration).UnixNano())
	return true
}

// success resets the count on an answer; it reports whether the version had been marked down.
func (h *health) success() bool {
	if h.fails.Swap(0) == 0 {
		return false
	}
	return h.downUntil.Swap(0) != 0
}

// failover picks, by weight, one of the split's versions that is not down at now; nil when all are.
func (st *state) failover(now time.Time, rnd func() uint64) *upstream {
	var total uint64
	cum := make([]uint64, len(st.upstreams))
	for i, u := range st.upstreams {
		if down, _ := u.health.down(now); !down {
			total += st.cum[i] - prev(st.cum, i)
		}
		cum[i] = total
	}
	if total == 0 {
		return nil
	}
	point := rnd() % total
	for i, c := range cum {
		if point < c {
			return st.upstreams[i]
		}
	}
	return nil
}

// prev is the cumulative weight before upstream i.
func prev(cum []uint64, i int) uint64 {
	if i == 0 {
		return 0
	}
	return cum[i-1]
}

// unavailable answers a request for a version that is marked down, with Retry-After.
func (u *upstream) unavailable(ctx *fasthttp.RequestCtx, until, now time.Time, cfg Health) {
	wait := max(1, int(math.Ceil(until.Sub(now).Seconds())))
	ctx.Response.Header.SetBytesV(VersionHeader, u.answer)
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(wait))
	writeError(ctx, http.StatusServiceUnavailable, fmt.Sprintf("%s %s is marked down after %d transport errors in a row; it is tried again in %ds (health.failover sends its share to the other versions)",
		u.model, u.version, cfg.ConsecutiveErrors, wait))
}

// writeError answers with a JSON {"error": msg}, as marina serve does.
func writeError(ctx *fasthttp.RequestCtx, code int, msg string) {
	h := &ctx.Response.Header
	h.SetContentType("application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	ctx.SetStatusCode(code)
	ctx.SetBody(errorJSON(msg))
}

// errorJSON is the body of an error answer: {"error": msg} and a newline.
func errorJSON(msg string) []byte {
	b, _ := json.Marshal(map[string]string{"error": msg}) // a map of strings always marshals
	return append(b, '\n')
}

// Reload results.
const (
	reloadSuccess = "success"
	reloadFailure = "failure"
)

// ReloadStatus is the outcome of the last attempt to load a configuration.
type ReloadStatus struct {
	Time   time.Time `json:"time"`
	Result string    `json:"result"`
	// Source is where the configuration came from: a file, or a ModelDeployment.
	Source string `json:"source,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Status is what GET /status on the metrics address answers.
type Status struct {
	Model    string           `json:"model"`
	Protocol string           `json:"protocol"`
	Versions []VersionStatus  `json:"versions"`
	Shadow   *ShadowStatus    `json:"shadow,omitempty"`
	Failover bool             `json:"failover"`
	Reload   ReloadStatus     `json:"lastReload"`
	Reloads  map[string]int64 `json:"reloads"`
}

// VersionStatus is one version of the split.
type VersionStatus struct {
	Version string `json:"version"`
	URL     string `json:"url"`
	Weight  int    `json:"weight"`
	// Share is the version's part of unpinned traffic, from 0 to 1, as the weights set it.
	Share   float64 `json:"share"`
	Healthy bool    `json:"healthy"`
	// ConsecutiveErrors counts the transport errors since the version last answered.
	ConsecutiveErrors int64      `json:"consecutiveErrors"`
	DownUntil         *time.Time `json:"downUntil,omitempty"`
}

// ShadowStatus is the mirror.
type ShadowStatus struct {
	Version string  `json:"version"`
	URL     string  `json:"url"`
	Percent float64 `json:"percent"`
}

// Status reports the configuration in use, each version's health and the last reload.
func (rt *Router) Status() Status {
	st := rt.state.Load()
	now := time.Now()
	total := 0
	for _, u := range st.cfg.Upstreams {
		total += u.Weight
	}
	s := Status{Model: st.cfg.Model, Protocol: st.cfg.Protocol, Failover: st.cfg.Health.Failover, Reload: *rt.lastReload.Load(),
		Reloads: map[string]int64{reloadSuccess: rt.reloads[0].Load(), reloadFailure: rt.reloads[1].Load()}}
	for _, c := range st.cfg.Upstreams {
		h := st.byVersion[c.Version].health
		down, until := h.down(now)
		v := VersionStatus{Version: c.Version, URL: c.URL, Weight: c.Weight, Share: float64(c.Weight) / float64(total),
			Healthy: !down, ConsecutiveErrors: h.fails.Load()}
		if down {
			v.DownUntil = &until
		}
		s.Versions = append(s.Versions, v)
	}
	if sh := st.cfg.Shadow; sh != nil {
		s.Shadow = &ShadowStatus{Version: sh.Version, URL: sh.URL, Percent: sh.Percent}
	}
	return s
}

// StatusHandler serves Status as JSON.
func (rt *Router) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b, err := json.MarshalIndent(rt.Status(), "", "  ")
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			b = errorJSON(err.Error())
		} else {
			b = append(b, '\n')
		}
		_, _ = w.Write(b)
	})
}

// reloaded records the outcome of a reload: the metric, /status and one log line.
func (rt *Router) reloaded(cfg *Config, err error) {
	source := rt.source
	r := &ReloadStatus{Time: time.Now().UTC(), Result: reloadSuccess, Source: source}
	if err != nil {
		r.Result, r.Error = reloadFailure, err.Error()
		rt.reloads[1].Add(1)
		rt.metrics.reloads.WithLabelValues(reloadFailure).Inc()
		rt.lastReload.Store(r)
		rt.log.Error("configuration not reloaded; the previous one stays", "source", source, "error", err)
		return
	}
	rt.reloads[0].Add(1)
	rt.metrics.reloads.WithLabelValues(reloadSuccess).Inc()
	rt.lastReload.Store(r)
	weights := make([]string, len(cfg.Upstreams))
	for i, u := range cfg.Upstreams {
		weights[i] = fmt.Sprintf("%s=%d", u.Version, u.Weight)
	}
	shadow := "none"
	if s := cfg.Shadow; s != nil {
		shadow = fmt.Sprintf("%s %g%%", s.Version, s.Percent)
	}
	rt.log.Info("configuration reloaded", "source", source, "model", cfg.Model, "weights", weights, "shadow", shadow)
}
