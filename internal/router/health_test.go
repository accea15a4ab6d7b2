package router

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/logtest"
)

// getStatus reads GET /status from the router's metrics address.
func getStatus(t *testing.T, rt *running) Status {
	t.Helper()
	resp, err := http.Get(strings.TrimSuffix(rt.metricsURL, "/metrics") + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/status: %d %v", resp.StatusCode, err)
	}
	return s
}

// errorBody sends an unpinned (or pinned) inference request and returns the status, Retry-After and JSON error.
func errorBody(t *testing.T, base string, header map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v2/models/iris/infer", strings.NewReader(inferBody(0.3)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 400 {
		return resp.StatusCode, "", ""
	}
	var e struct{ Error string }
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d: the error is not a JSON {\"error\": ...}: %q (%s)", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), e.Error
}

func TestStatusReportsTheSplitTheShadowAndTheLastReload(t *testing.T) {
	t.Parallel()
	v1, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	v2, _ := oipUpstream(t, "1.1.0", goodModel, 0)
	shadow, _ := oipUpstream(t, "1.2.0", goodModel, 0)
	good := config(fmt.Sprintf("upstreams:\n  - {version: 1.0.0, url: %q, weight: 90}\n  - {version: 1.1.0, url: %q, weight: 10}\nshadow: {version: 1.2.0, url: %q, percent: 25}\n", v1.URL, v2.URL, shadow.URL))
	dir := t.TempDir()
	file := writeFile(t, dir, "router.yaml", good)
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var log logtest.Buffer
	r, err := New(cfg, Options{Log: log.Logger(), Source: file})
	if err != nil {
		t.Fatal(err)
	}
	rt := serveRouter(t, r)

	s := getStatus(t, rt)
	if s.Model != "iris" || s.Protocol != ProtocolOIPv2 || len(s.Versions) != 2 || s.Failover ||
		s.Versions[0].Share != 0.9 || s.Versions[1].Share != 0.1 || !s.Versions[0].Healthy || s.Versions[1].URL != v2.URL ||
		s.Shadow == nil || s.Shadow.Version != "1.2.0" || s.Shadow.Percent != 25 {
		t.Errorf("status: %+v", s)
	}
	if s.Reload.Result != "success" || s.Reload.Source != file || s.Reload.Time.IsZero() {
		t.Errorf("the first configuration is the first load: %+v", s.Reload)
	}

	writeFile(t, dir, "router.yaml", good+"bogus: 1\n")
	if rt.ReloadFile(file) {
		t.Fatal("a bad file reloaded")
	}
	s = getStatus(t, rt)
	if s.Reload.Result != "failure" || !strings.Contains(s.Reload.Error, `unknown field "bogus"`) || s.Reloads["failure"] != 1 || s.Versions[0].Weight != 90 {
		t.Errorf("after a bad file: %+v", s)
	}

	writeFile(t, dir, "router.yaml", strings.Replace(strings.Replace(good, "weight: 90", "weight: 50", 1), "weight: 10", "weight: 50", 1))
	before := s.Reload.Time
	if !rt.ReloadFile(file) {
		t.Fatal("the good file did not reload")
	}
	s = getStatus(t, rt)
	if s.Reload.Result != "success" || s.Reload.Error != "" || !s.Reload.Time.After(before) || s.Versions[0].Share != 0.5 || s.Reloads["success"] != 1 {
		t.Errorf("after a good file: %+v", s)
	}
	for _, want := range []string{
		`level=ERROR msg="configuration not reloaded; the previous one stays" source=` + file,
		`level=INFO msg="configuration reloaded" source=` + file + ` model=iris weights="[1.0.0=50 1.1.0=50]" shadow="1.2.0 25%"`,
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// revivable is an upstream address that refuses connections until revive starts an OIP server on it.
func revivable(t *testing.T, version string) (url string, revive func()) {
	t.Helper()
	url = deadURL(t)
	return url, func() {
		ln, err := net.Listen("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			t.Fatalf("reviving %s: %v", url, err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"model_name":"iris","model_version":%q,"outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","data":[0.5,0.5]}]}`, version)
		}))
		srv.Listener.Close()
		srv.Listener = ln
		srv.Start()
		t.Cleanup(srv.Close)
	}
}

func TestADeadVersionIsMarkedDownForItsBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		failover bool
	}{
		{"without failover its share gets 503 at once, with Retry-After", false},
		{"with failover its share goes to the other versions", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			good, _ := oipUpstream(t, "1.0.0", goodModel, 0)
			dead, revive := revivable(t, "1.1.0")
			var log logtest.Buffer
			rt := startRouter(t, config(fmt.Sprintf(`health: {consecutiveErrors: 3, backoff: 2s, failover: %v}
upstreams:
  - {version: 1.0.0, url: %q, weight: 1}
  - {version: 1.1.0, url: %q, weight: 1}
`, tc.failover, good.URL, dead)), Options{Log: log.Logger()})
			pin := map[string]string{VersionHeader: "1.1.0"}

			// Three transport errors in a row mark 1.1.0 down; each is a JSON 502.
			for i := range 3 {
				if code, _, msg := errorBody(t, rt.url, pin); code != http.StatusBadGateway || msg != "iris 1.1.0 did not answer: connect" {
					t.Fatalf("error %d: %d %q", i, code, msg)
				}
				if healthy := getStatus(t, rt).Versions[1].Healthy; healthy != (i < 2) {
					t.Fatalf("after %d errors healthy=%v", i+1, healthy)
				}
			}
			s := getStatus(t, rt)
			if v := s.Versions[1]; v.ConsecutiveErrors != 3 || v.DownUntil == nil || time.Until(*v.DownUntil) <= 0 || s.Failover != tc.failover {
				t.Errorf("down: %+v", s)
			}
			if !strings.Contains(log.String(), `level=WARN msg="version marked down" model=iris version=1.1.0 consecutiveErrors=3 backoff=2s`) {
				t.Errorf("log:\n%s", log.String())
			}

			// While it is down, unpinned requests never reach it.
			var unavailable, ok int
			for n := 0; n < 40 && time.Until(*s.Versions[1].DownUntil) > 300*time.Millisecond; n++ {
				code, retry, msg := errorBody(t, rt.url, nil)
				switch code {
				case http.StatusOK:
					ok++
				case http.StatusServiceUnavailable:
					unavailable++
					if (retry != "1" && retry != "2") || !strings.Contains(msg, "iris 1.1.0 is marked down after 3 transport errors in a row") {
						t.Errorf("503: Retry-After %q, %q", retry, msg)
					}
				default:
					t.Fatalf("while down: %d %q", code, msg)
				}
			}
			if tc.failover && (ok == 0 || unavailable != 0) || !tc.failover && (unavailable == 0 || ok == 0) {
				t.Errorf("failover=%v: %d answered, %d got 503", tc.failover, ok, unavailable)
			}

			// Back after the backoff: the next request tries it, an answer marks it up.
			revive()
			eventually.True(t, 5*time.Second, "1.1.0 answers once its backoff ends", func() bool {
				code, _, _ := errorBody(t, rt.url, nil)
				return code == http.StatusOK && getStatus(t, rt).Versions[1].Healthy && getStatus(t, rt).Versions[1].ConsecutiveErrors == 0
			})
			eventually.True(t, 5*time.Second, "the log says it is up", func() bool {
				return strings.Contains(log.String(), `msg="version answers again: marked up" model=iris version=1.1.0`)
			})
		})
	}
}

func TestErrorsTheRouterAnswersAreJSON(t *testing.T) {
	t.Parallel()
	good, _ := oipUpstream(t, "1.0.0", goodModel, 0)
	rt := startRouter(t, config(fmt.Sprintf("maxBody: 10\nupstreams:\n  - {version: 1.0.0, url: %q, weight: 1}\n", good.URL)), Options{})
	if code, _, msg := errorBody(t, rt.url, map[string]string{VersionHeader: "9.9.9"}); code != http.StatusBadRequest || !strings.Contains(msg, `"9.9.9" is not a version of iris`) {
		t.Errorf("unknown version: %d %q", code, msg)
	}
	if code, _, msg := errorBody(t, rt.url, nil); code != http.StatusRequestEntityTooLarge || msg != "request body larger than 10 bytes (the router's maxBody)" {
		t.Errorf("too large: %d %q", code, msg)
	}
}
