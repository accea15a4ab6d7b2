//go:build cgo

package serve

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model/onnxtest"
)

// served starts a server for the model file named "m".
func served(t *testing.T, path string) *httptest.Server {
	t.Helper()
	sess, err := inference.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	s := New(Options{Name: "m"})
	s.SetModel(sess, time.Millisecond)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

// infer posts an inference request for model "m" and returns the outputs of its 200 answer.
func infer(t *testing.T, ts *httptest.Server, body string) json.RawMessage {
	t.Helper()
	resp, err := http.Post(ts.URL+"/v2/models/m/infer", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Outputs json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	return got.Outputs
}

// direct runs a model in ONNX Runtime through its Go binding alone, none of marina's code in between, and returns
// each output's shape and values as JSON.
func direct(t *testing.T, path string, inputs map[string]ort.Value, outputs []string) map[string]string {
	t.Helper()
	var names []string
	var values []ort.Value
	for name, v := range inputs {
		names = append(names, name)
		values = append(values, v)
		t.Cleanup(func() { _ = v.Destroy() })
	}
	s, err := ort.NewDynamicAdvancedSession(path, names, outputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	outs := make([]ort.Value, len(outputs))
	if err := s.Run(values, outs); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for i, v := range outs {
		defer v.Destroy()
		var data any
		switch x := v.(type) {
		case *ort.Tensor[float32]:
			data = x.GetData()
		case *ort.Tensor[int64]:
			data = x.GetData()
		case *ort.StringTensor:
			if data, err = x.GetContents(); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("output %q: %T", outputs[i], v)
		}
		b, err := json.Marshal(map[string]any{"shape": []int64(v.GetShape()), "data": data})
		if err != nil {
			t.Fatal(err)
		}
		got[outputs[i]] = string(b)
	}
	return got
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// TestServedOutputsAreWhatONNXRuntimeComputes sends real models' requests through marina serve's Open Inference
// Protocol endpoint and compares every output, values included, with ONNX Runtime run directly on the same input.
func TestServedOutputsAreWhatONNXRuntimeComputes(t *testing.T) {
	t.Parallel()
	audio := inferencetest.Tone(512)
	for _, tc := range []struct {
		name    string
		path    func(t *testing.T) string
		request map[string]any
		inputs  func(t *testing.T) map[string]ort.Value
		outputs []string
	}{
		{
			name: "silero VAD v5 with its int64 scalar sample rate as shape []",
			path: func(t *testing.T) string { return inferencetest.Model(t, "silero_vad_v5.onnx") },
			request: map[string]any{"inputs": []any{
				map[string]any{"name": "input", "datatype": "FP32", "shape": []int{1, 512}, "data": audio},
				map[string]any{"name": "state", "datatype": "FP32", "shape": []int{2, 1, 128}, "data": make([]float32, 256)},
				map[string]any{"name": "sr", "datatype": "INT64", "shape": []int{}, "data": []int{16000}},
			}},
			inputs: func(t *testing.T) map[string]ort.Value {
				return map[string]ort.Value{
					"input": must[*ort.Tensor[float32]](t)(ort.NewTensor(ort.NewShape(1, 512), audio)),
					"state": must[*ort.Tensor[float32]](t)(ort.NewEmptyTensor[float32](ort.NewShape(2, 1, 128))),
					"sr":    must[*ort.Scalar[int64]](t)(ort.NewScalar(int64(16000))),
				}
			},
			outputs: []string{"output", "stateN"},
		},
		{
			name: "a wake word whose input is onnx::Flatten_0 and whose output is 39",
			path: func(t *testing.T) string { return inferencetest.Model(t, "hey_rhasspy_v0.1.onnx") },
			request: map[string]any{"inputs": []any{
				map[string]any{"name": "onnx::Flatten_0", "datatype": "FP32", "shape": []int{1, 16, 96}, "data": inferencetest.Tone(16 * 96)},
			}},
			inputs: func(t *testing.T) map[string]ort.Value {
				return map[string]ort.Value{"onnx::Flatten_0": must[*ort.Tensor[float32]](t)(ort.NewTensor(ort.NewShape(1, 16, 96), inferencetest.Tone(16*96)))}
			},
			outputs: []string{"39"},
		},
		{
			name: "string and int64 tensors through ai.onnx.ml LabelEncoders",
			path: func(t *testing.T) string { return inferencetest.Write(t, onnxtest.Labels) },
			request: map[string]any{"inputs": []any{
				map[string]any{"name": "class", "datatype": "INT64", "shape": []int{3}, "data": []int{1, 0, 7}},
				map[string]any{"name": "word", "datatype": "BYTES", "shape": []int{2}, "data": []string{"dog", "émeu"}},
			}},
			inputs: func(t *testing.T) map[string]ort.Value {
				words := must[*ort.StringTensor](t)(ort.NewStringTensor(ort.NewShape(2)))
				if err := words.SetContents([]string{"dog", "émeu"}); err != nil {
					t.Fatal(err)
				}
				return map[string]ort.Value{"class": must[*ort.Tensor[int64]](t)(ort.NewTensor(ort.NewShape(3), []int64{1, 0, 7})), "word": words}
			},
			outputs: []string{"name", "id"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := tc.path(t)
			ts := served(t, path)
			body, err := json.Marshal(tc.request)
			if err != nil {
				t.Fatal(err)
			}
			var got []struct {
				Name        string
				Shape, Data json.RawMessage
			}
			if err := json.Unmarshal(infer(t, ts, string(body)), &got); err != nil {
				t.Fatal(err)
			}
			want := direct(t, path, tc.inputs(t), tc.outputs)
			if len(got) != len(want) {
				t.Fatalf("%d outputs, want %d", len(got), len(want))
			}
			for _, o := range got {
				if g := `{"data":` + string(o.Data) + `,"shape":` + string(o.Shape) + `}`; g != want[o.Name] {
					t.Errorf("output %q: served %s, ONNX Runtime computes %s", o.Name, abbrev(g), abbrev(want[o.Name]))
				}
			}
		})
	}
}

func abbrev(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// TestScalarsBooleansHalvesAndStringsAreServed checks the JSON that carries each dtype, both ways.
func TestScalarsBooleansHalvesAndStringsAreServed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		build       func() ([]byte, error)
		request     string
		wantOutputs string
	}{
		{
			name:        "a scalar given as a bare value or a list of one; scalar outputs have shape []",
			build:       onnxtest.Scalars,
			request:     `{"inputs":[{"name":` + strconvQuote(onnxtest.JSONInputName) + `,"datatype":"FP32","shape":[2,3],"data":[[1,2,3],[4,5,6]]},{"name":"scale","datatype":"FP32","shape":[],"data":0.5}]}`,
			wantOutputs: `[{"name":"total","shape":[],"datatype":"FP32","data":[10.5]},{"name":"count","shape":[],"datatype":"INT64","data":[2]}]`,
		},
		{
			name:        "BOOL and FP16 in and out",
			build:       onnxtest.Masked,
			request:     `{"inputs":[{"name":"mask","datatype":"BOOL","shape":[1,3],"data":[true,false,true]},{"name":"a","datatype":"FP32","shape":[1,3],"data":[1,2,3]},{"name":"b","datatype":"FP32","shape":[1,3],"data":[-1,-2,-3]},{"name":"half","datatype":"FP16","shape":[2,2],"data":[0.5,-1.25,3,1000]}]}`,
			wantOutputs: `[{"name":"picked","shape":[1,3],"datatype":"FP32","data":[1,-2,3]},{"name":"inverted","shape":[1,3],"datatype":"BOOL","data":[false,true,false]},{"name":"doubled","shape":[2,2],"datatype":"FP16","data":[1,-2.5,6,2000]}]`,
		},
		{
			name:        "BYTES as JSON strings",
			build:       onnxtest.Labels,
			request:     `{"inputs":[{"name":"class","datatype":"INT64","shape":[1],"data":[0]},{"name":"word","datatype":"BYTES","shape":[1],"data":["cat"]}]}`,
			wantOutputs: `[{"name":"name","shape":[1],"datatype":"BYTES","data":["cat"]},{"name":"id","shape":[1],"datatype":"INT64","data":[0]}]`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := infer(t, served(t, inferencetest.Write(t, tc.build)), tc.request)
			if string(got) != tc.wantOutputs {
				t.Fatalf("outputs\n%s\nwant\n%s", got, tc.wantOutputs)
			}
		})
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
