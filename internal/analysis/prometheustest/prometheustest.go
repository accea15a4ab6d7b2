package prometheustest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/marina-dev/marina/internal/prereq"
	"github.com/marina-dev/marina/internal/testenv/proc"
)

// TB is what the helpers need of their caller: testing.TB satisfies it, and so does internal/testenv.TB.
type TB interface {
	prereq.TB
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Failed() bool
	Cleanup(f func())
	TempDir() string
}

// Binary finds prometheus on PATH; without it the test is skipped, or fails where prerequisites are
// required (see package prereq).
func Binary(tb TB) string {
	tb.Helper()
	bin, err := exec.LookPath("prometheus")
	if err == nil {
		return bin
	}
	prereq.Missing(tb, "prometheus not found on PATH: run hack/prometheus.sh (as root) to install Debian's")
	return ""
}

// Server is a Prometheus process run by a test.
type Server struct {
	bin, dir, addr string
	proc           *proc.Process
}

// Start starts Prometheus on a free loopback port, scraping targets (host:port, job "app") every second; the
// test's Cleanup stops it, and the kernel kills it if the test binary dies first. It skips or fails the test as
// Binary does when prometheus is not installed.
func Start(tb TB, targets ...string) *Server {
	tb.Helper()
	return StartLabeled(tb, nil, targets...)
}

// StartLabeled is Start with labels added to every scraped series, as Kubernetes service discovery adds the
// pod's namespace: e.g. {"namespace": "models"}.
func StartLabeled(tb TB, labels map[string]string, targets ...string) *Server {
	tb.Helper()
	quoted := make([]string, len(targets))
	for i, t := range targets {
		quoted[i] = fmt.Sprintf("%q", t)
	}
	var extra strings.Builder
	if len(labels) > 0 {
		extra.WriteString("        labels:\n")
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			fmt.Fprintf(&extra, "          %s: %q\n", k, labels[k])
		}
	}
	return StartConfig(tb, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"+
		"scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ["+strings.Join(quoted, ", ")+"]\n"+extra.String())
}

// StartConfig is Start with a whole prometheus.yml of the caller's, e.g. one discovering targets over HTTP.
func StartConfig(tb TB, config string) *Server {
	tb.Helper()
	s := &Server{bin: Binary(tb), dir: tb.TempDir(), addr: FreeAddr(tb)}
	if err := os.WriteFile(filepath.Join(s.dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		tb.Fatal(err)
	}
	s.Start(tb)
	tb.Cleanup(func() {
		s.Stop(tb)
		if tb.Failed() {
			log, _ := os.ReadFile(filepath.Join(s.dir, "prometheus.log"))
			tb.Logf("prometheus.log:\n%s", log[max(0, len(log)-4000):])
		}
	})
	return s
}

// Address is the server's base URL, http://127.0.0.1:PORT, as analysis templates name it.
func (s *Server) Address() string { return "http://" + s.addr }

// Start starts the server again after Stop, on the same port and storage; it does nothing while it runs.
func (s *Server) Start(tb TB) {
	tb.Helper()
	if s.proc != nil {
		return
	}
	cmd := exec.Command(s.bin, "--config.file="+filepath.Join(s.dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(s.dir, "data"), "--web.listen-address="+s.addr)
	p, err := proc.Start(cmd, filepath.Join(s.dir, "prometheus.log"))
	if err != nil {
		tb.Fatalf("prometheus: %v", err)
	}
	s.proc = p
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it to exit; it does nothing when stopped.
func (s *Server) Stop(tb TB) {
	tb.Helper()
	if s.proc == nil {
		return
	}
	s.proc.Stop(10 * time.Second)
	s.proc = nil
}

// WaitForData waits up to 30 s (or until ctx ends) until query returns at least series series, e.g. until
// Prometheus has scraped the series a test's analysis measures; it fails the test otherwise.
func (s *Server) WaitForData(ctx context.Context, tb TB, query string, series int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		n, err := s.count(ctx, query)
		if err == nil && n >= series {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("Prometheus at %s: %q has %d series, want %d (%v)", s.addr, query, n, series, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// count is the number of series query returns now.
func (s *Server) count(ctx context.Context, query string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Address()+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return 0, err
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query: %s", body.Error)
	}
	return len(body.Data.Result), nil
}

// FreeAddr returns a loopback host:port nothing listens on now.
func FreeAddr(tb TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
