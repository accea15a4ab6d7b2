package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/model/onnxtest"
)

var examples = [][]float32{{5.1, 3.5, 1.4, 0.2}, {6.7, 3.0, 5.2, 2.3}}

func session(t *testing.T) *inference.Session {
	t.Helper()
	s, err := inference.Load(inferencetest.Write(t, onnxtest.Iris().Bytes))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// irisServer is an httptest server for the iris model, named "iris", version 1.0.0.
func irisServer(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	if opts.Name == "" {
		opts.Name, opts.Version = "iris", "1.0.0"
	}
	s := New(opts)
	s.SetModel(session(t), 42*time.Millisecond)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func do(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: status %d, body is not a JSON object: %q", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode, v
}

func floats(t *testing.T, v any) []float32 {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not a list", v)
	}
	var out []float32
	for _, x := range list {
		if inner, ok := x.([]any); ok {
			out = append(out, floats(t, inner)...)
			continue
		}
		f, ok := x.(float64)
		if !ok {
			t.Fatalf("%v is not a number", x)
		}
		out = append(out, float32(f))
	}
	return out
}

func expected() []float32 {
	l := onnxtest.Iris()
	return append(l.Predict(examples[0]), l.Predict(examples[1])...)
}

func TestHealthIsLiveAtOnceAndReadyOnceTheModelIsLoaded(t *testing.T) {
	s := New(Options{Name: "iris"})
	ts := httptest.NewServer(s)
	defer ts.Close()
	if code, _ := do(t, "GET", ts.URL+"/v2/health/live", ""); code != 200 {
		t.Fatalf("live = %d, want 200", code)
	}
	if code, _ := do(t, "GET", ts.URL+"/v2/health/ready", ""); code != 503 {
		t.Fatalf("ready before the model = %d, want 503", code)
	}
	if code, _ := do(t, "POST", ts.URL+"/v2/models/iris/infer", "{}"); code != 503 {
		t.Fatalf("infer before the model = %d, want 503", code)
	}
	s.SetModel(session(t), time.Millisecond)
	if code, body := do(t, "GET", ts.URL+"/v2/health/ready", ""); code != 200 || body["ready"] != true {
		t.Fatalf("ready after the model = %d %v, want 200", code, body)
	}
	if code, _ := do(t, "GET", ts.URL+"/v2/models/iris/ready", ""); code != 200 {
		t.Fatalf("model ready = %d, want 200", code)
	}
}

func TestMetadataDescribesTheModelAsONNXRuntimeSeesIt(t *testing.T) {
	_, ts := irisServer(t, Options{})
	code, body := do(t, "GET", ts.URL+"/v2/models/iris", "")
	if code != 200 {
		t.Fatalf("status %d: %v", code, body)
	}
	b, _ := json.Marshal(body)
	want := `{"inputs":[{"datatype":"FP32","name":"input","shape":[-1,4]}],"name":"iris","outputs":[{"datatype":"FP32","name":"probabilities","shape":[-1,3]}],"platform":"onnxruntime","versions":["1.0.0"]}`
	if string(b) != want {
		t.Fatalf("metadata = %s\nwant %s", b, want)
	}
	if code, _ := do(t, "GET", ts.URL+"/v2/models/iris/versions/1.0.0", ""); code != 200 {
		t.Fatalf("versioned metadata = %d, want 200", code)
	}
	if code, body := do(t, "GET", ts.URL+"/v2/models/other", ""); code != 404 || !strings.Contains(fmt.Sprint(body["error"]), `unknown model "other"`) {
		t.Fatalf("unknown model = %d %v, want 404", code, body)
	}
}

func TestInferReturnsTheModelsExactOutputs(t *testing.T) {
	_, ts := irisServer(t, Options{})
	flat := fmt.Sprintf(`{"id":"r1","inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":%s}]}`, mustJSON(t, append(append([]float32{}, examples[0]...), examples[1]...)))
	nested := fmt.Sprintf(`{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":%s}],"outputs":[{"name":"probabilities"}]}`, mustJSON(t, examples))
	for name, body := range map[string]string{"flat data": flat, "nested data": nested} {
		t.Run(name, func(t *testing.T) {
			code, resp := do(t, "POST", ts.URL+"/v2/models/iris/infer", body)
			if code != 200 {
				t.Fatalf("status %d: %v", code, resp)
			}
			if resp["model_name"] != "iris" || resp["model_version"] != "1.0.0" {
				t.Fatalf("response = %v", resp)
			}
			outs := resp["outputs"].([]any)
			if len(outs) != 1 {
				t.Fatalf("outputs = %v", outs)
			}
			o := outs[0].(map[string]any)
			if o["name"] != "probabilities" || o["datatype"] != "FP32" || fmt.Sprint(o["shape"]) != "[2 3]" {
				t.Fatalf("output = %v", o)
			}
			inferencetest.AssertClose(t, floats(t, o["data"]), expected())
		})
	}
	if _, resp := do(t, "POST", ts.URL+"/v2/models/iris/versions/1.0.0/infer", flat); resp["id"] != "r1" {
		t.Fatalf("versioned infer: id not echoed: %v", resp)
	}
}

func TestKServeV1PredictReturnsOnePredictionPerInstance(t *testing.T) {
	_, ts := irisServer(t, Options{})
	code, resp := do(t, "POST", ts.URL+"/v1/models/iris:predict", fmt.Sprintf(`{"instances":%s}`, mustJSON(t, examples)))
	if code != 200 {
		t.Fatalf("status %d: %v", code, resp)
	}
	preds := resp["predictions"].([]any)
	if len(preds) != 2 || len(preds[0].([]any)) != 3 {
		t.Fatalf("predictions = %v", preds)
	}
	inferencetest.AssertClose(t, floats(t, preds), expected())
	if code, _ := do(t, "POST", ts.URL+"/v1/models/other:predict", `{"instances":[[1,2,3,4]]}`); code != 404 {
		t.Fatalf("unknown model = %d, want 404", code)
	}
	if code, _ := do(t, "POST", ts.URL+"/v1/models/iris:explain", `{}`); code != 404 {
		t.Fatalf(":explain = %d, want 404", code)
	}
}

func TestBadRequestsGetAClearErrorAndTheServerKeepsServing(t *testing.T) {
	_, ts := irisServer(t, Options{MaxBody: 4096})
	infer := ts.URL + "/v2/models/iris/infer"
	predict := ts.URL + "/v1/models/iris:predict"
	input := func(shape, datatype, data string) string {
		return fmt.Sprintf(`{"inputs":[{"name":"input","shape":%s,"datatype":"%s","data":%s}]}`, shape, datatype, data)
	}
	for _, tc := range []struct {
		name, url, body string
		code            int
		want            string
	}{
		{"invalid JSON", infer, `{"inputs":[`, 400, "invalid JSON"},
		{"trailing data", infer, input("[1,4]", "FP32", "[1,2,3,4]") + "{}", 400, "data after"},
		{"an unknown field", infer, `{"inputz":[]}`, 400, "unknown field"},
		{"no inputs", infer, `{"inputs":[]}`, 400, "no inputs"},
		{"an unknown input", infer, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `unknown input "x"`},
		{"a wrong datatype", infer, input("[1,4]", "INT64", "[1,2,3,4]"), 400, "datatype INT64, the model wants FP32"},
		{"an unsupported datatype", infer, input("[1,4]", "FP64", `[1,2,3,4]`), 400, `datatype "FP64" is not supported`},
		{"a supported datatype the model does not want", infer, input("[1,4]", "BYTES", `["a","b","c","d"]`), 400, "datatype BYTES, the model wants FP32"},
		{"a bare value for a shape that is not a scalar", infer, input("[1,4]", "FP32", `1`), 400, "array of values"},
		{"too few values for the shape", infer, input("[2,4]", "FP32", "[1,2,3,4]"), 400, "needs 8 values, data has 4"},
		{"a wrong fixed dimension", infer, input("[1,3]", "FP32", "[1,2,3]"), 400, "dimension 1 must be 4"},
		{"the wrong rank", infer, input("[4]", "FP32", "[1,2,3,4]"), 400, "rank 1"},
		{"a negative dimension", infer, input("[-1,4]", "FP32", "[1,2,3,4]"), 400, "needs an impossible number of values"},
		{"a ragged nested list", infer, input("[2,4]", "FP32", "[[1,2,3,4],[5,6,7]]"), 400, "wants 4"},
		{"mixed nesting", infer, input("[2,4]", "FP32", "[[1,2,3,4],5,6,7,8]"), 400, "ragged"},
		{"a string in the data", infer, input("[1,4]", "FP32", `[1,2,3,"4"]`), 400, `data holds "4", not an FP32 value`},
		{"an FP32 out of range", infer, input("[1,4]", "FP32", "[1,2,3,1e39]"), 400, "not an FP32"},
		{"data that is not a list", infer, input("[1,4]", "FP32", `{"a":1}`), 400, "array of values"},
		{"an unknown requested output", infer, `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"nope"}]}`, 400, `no output "nope"`},
		{"an oversized body", infer, input("[1,4]", "FP32", "["+strings.Repeat("1,", 4096)+"1]"), 413, "byte limit"},
		{"an unknown model", ts.URL + "/v2/models/other/infer", input("[1,4]", "FP32", "[1,2,3,4]"), 404, "unknown model"},
		{"a wrong version", ts.URL + "/v2/models/iris/versions/2.0.0/infer", input("[1,4]", "FP32", "[1,2,3,4]"), 404, "unknown version"},
		{"an unknown endpoint", ts.URL + "/v3/anything", "", 404, "no such endpoint"},
		{"v1 without instances", predict, `{}`, 400, "instances"},
		{"v1 with a short instance", predict, `{"instances":[[1,2,3]]}`, 400, "has 3 values"},
		{"v1 with an oversized body", predict, `{"instances":[[` + strings.Repeat("1,", 4096) + `1]]}`, 413, "byte limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := do(t, "POST", tc.url, tc.body)
			if code != tc.code || !strings.Contains(fmt.Sprint(resp["error"]), tc.want) {
				t.Fatalf("status %d %v, want %d with an error containing %q", code, resp, tc.code, tc.want)
			}
		})
	}
	code, resp := do(t, "POST", infer, input("[2,4]", "FP32", mustJSON(t, examples)))
	if code != 200 {
		t.Fatalf("after the bad requests: status %d %v", code, resp)
	}
	inferencetest.AssertClose(t, floats(t, resp["outputs"].([]any)[0].(map[string]any)["data"]), expected())
}

// blocking is a model whose runs wait until release is closed.
type blocking struct {
	started chan struct{}
	release chan struct{}
}

func (b *blocking) Inputs() []model.Tensor {
	return []model.Tensor{{Name: "x", DType: "float32", Shape: []int64{-1, 1}}}
}
func (b *blocking) Outputs() []model.Tensor { return b.Inputs() }
func (b *blocking) Run(in []inference.Tensor) ([]inference.Tensor, error) {
	b.started <- struct{}{}
	<-b.release
	return in, nil
}

func TestRequestsBeyondTheConcurrencyLimitGet503(t *testing.T) {
	m := &blocking{started: make(chan struct{}, 2), release: make(chan struct{})}
	s := New(Options{Name: "m", MaxConcurrency: 2})
	s.SetModel(m, 0)
	ts := httptest.NewServer(s)
	defer ts.Close()
	body := `{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[1]}]}`
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if code, resp := do(t, "POST", ts.URL+"/v2/models/m/infer", body); code != 200 {
				t.Errorf("held request: %d %v", code, resp)
			}
		})
	}
	<-m.started
	<-m.started
	code, resp := do(t, "POST", ts.URL+"/v2/models/m/infer", body)
	close(m.release)
	wg.Wait()
	if code != 503 || !strings.Contains(fmt.Sprint(resp["error"]), "too many concurrent requests") {
		t.Fatalf("third request = %d %v, want 503", code, resp)
	}
	m.started = make(chan struct{}, 1)
	if code, _ := do(t, "POST", ts.URL+"/v2/models/m/infer", body); code != 200 {
		t.Fatalf("after the others finished: %d, want 200", code)
	}
}

func TestMetricsCountRequestsByEndpointAndCode(t *testing.T) {
	_, ts := irisServer(t, Options{})
	do(t, "POST", ts.URL+"/v2/models/iris/infer", fmt.Sprintf(`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":%s}]}`, mustJSON(t, examples[0])))
	do(t, "POST", ts.URL+"/v2/models/iris/infer", `not json`)
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`marina_serve_requests_total{code="200",endpoint="infer"} 1`,
		`marina_serve_requests_total{code="400",endpoint="infer"} 1`,
		`marina_serve_request_duration_seconds_count{endpoint="infer"} 2`,
		`marina_serve_in_flight_requests 0`,
		`marina_serve_model_load_seconds 0.042`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestServeShutsDownGracefullyWhenTheContextEnds(t *testing.T) {
	m := &blocking{started: make(chan struct{}, 1), release: make(chan struct{})}
	s := New(Options{Name: "m"})
	s.SetModel(m, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, 5*time.Second) }()
	url := "http://" + ln.Addr().String()
	got := make(chan int, 1)
	go func() {
		resp, err := http.Post(url+"/v2/models/m/infer", "application/json", strings.NewReader(`{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[1]}]}`))
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-m.started
	cancel()
	time.Sleep(50 * time.Millisecond) // let Shutdown close the listener while the request is in flight
	close(m.release)
	if code := <-got; code != 200 {
		t.Fatalf("in-flight request = %d, want 200", code)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if _, err := http.Get(url + "/v2/health/live"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKServeV1InstancesMayBeScalars(t *testing.T) {
	t.Parallel()
	decl := model.Tensor{Name: "class", DType: "int64", Shape: []int64{-1}}
	got, err := decodePredictRequest([]byte(`{"instances":[1,0,[7]]}`), decl)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "class" || fmt.Sprint(got.Shape) != "[3]" || fmt.Sprint(got.Int64) != "[1 0 7]" {
		t.Fatalf("decoded %+v, want class [3] = [1 0 7]", got)
	}
}

func TestFP16ValuesBeyondFloat16sRangeAreRefused(t *testing.T) {
	t.Parallel()
	decl := []model.Tensor{{Name: "half", DType: "float16", Shape: []int64{-1}}}
	_, err := decodeInferRequest([]byte(`{"inputs":[{"name":"half","shape":[2],"datatype":"FP16","data":[65504,70000]}]}`), decl, nil)
	if err == nil || !strings.Contains(err.Error(), "70000 is not an FP16") {
		t.Fatalf("error = %v, want 70000 named as no FP16", err)
	}
}
