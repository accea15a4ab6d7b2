package serve

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/logtest"
)

// newTestServer serves opts without a model: enough for what does not run one.
func newTestServer(t *testing.T, opts Options) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(New(opts))
	t.Cleanup(ts.Close)
	return ts
}

func TestAWrongMethodGets405WithTheAllowedOnes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Options{Name: "iris", Version: "1.0.0"})
	for _, tc := range []struct {
		method, path, allow string
	}{
		{"GET", "/v2/models/iris/infer", "POST"},
		{"PUT", "/v2/models/iris/versions/1.0.0/infer", "POST"},
		{"POST", "/v2/health/ready", "GET, HEAD"},
		{"DELETE", "/v2/models/iris", "GET, HEAD"},
		{"POST", "/v2", "GET, HEAD"},
		{"PUT", "/v1/models/iris:predict", "POST, GET, HEAD"},
		{"POST", "/metrics", "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("status %d, Allow %q, Content-Type %q; want 405, %q, JSON", resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Content-Type"), tc.allow)
			}
		})
	}
	t.Run("an unknown path is still 404", func(t *testing.T) {
		if code, body := do(t, "GET", ts.URL+"/v3/x", ""); code != 404 || !strings.Contains(body["error"].(string), "no such endpoint") {
			t.Errorf("%d %v", code, body)
		}
	})
	t.Run("405 names the methods to use", func(t *testing.T) {
		if code, body := do(t, "GET", ts.URL+"/v2/models/iris/infer", ""); code != 405 || body["error"] != "method GET not allowed on /v2/models/iris/infer: use POST" {
			t.Errorf("%d %v", code, body)
		}
	})
}

func TestServerMetadataReportsMarinasVersionAndONNXRuntimesApart(t *testing.T) {
	t.Parallel()
	inferencetest.Lib(t)
	ts := newTestServer(t, Options{Name: "iris", ServerVersion: "v0.3.1"})
	code, body := do(t, "GET", ts.URL+"/v2", "")
	if code != 200 || body["name"] != "marina" || body["version"] != "v0.3.1" || body["onnxruntime"] != inference.Version() || inference.Version() == "" {
		t.Fatalf("%d %v", code, body)
	}
}

func TestEachRequestIsLoggedAtInfoLevelWithoutItsBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		level slog.Level
		want  bool
	}{{slog.LevelInfo, true}, {slog.LevelWarn, false}} {
		t.Run(tc.level.String(), func(t *testing.T) {
			var buf logtest.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
			ts := newTestServer(t, Options{Name: "iris", Log: log})
			do(t, "POST", ts.URL+"/v2/models/iris/infer", `{"inputs":"secret-payload"}`)
			out := buf.String()
			logged := strings.Contains(out, "msg=request method=POST path=/v2/models/iris/infer status=503")
			if logged != tc.want || strings.Contains(out, "secret-payload") {
				t.Errorf("log at %s:\n%s", tc.level, out)
			}
		})
	}
}
