//go:build cgo

package serve

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/model/onnxtest"
	"github.com/marina-dev/marina/internal/oip"
	"github.com/x448/float16"
)

// tensorData is the binary tensor data of values, written as the extension says with encoding/binary: numbers and
// booleans little-endian in their native size ([]uint16 holds FP16 bits), a string as its 4-byte length and bytes.
func tensorData(t *testing.T, values any) []byte {
	t.Helper()
	var b bytes.Buffer
	if strs, ok := values.([]string); ok {
		for _, s := range strs {
			_ = binary.Write(&b, binary.LittleEndian, uint32(len(s)))
			b.WriteString(s)
		}
		return b.Bytes()
	}
	if err := binary.Write(&b, binary.LittleEndian, values); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// binaryInput is an input of a request as tritonclient writes it (json.dumps' separators) with its binary data.
func binaryInput(t *testing.T, name, datatype string, shape []int64, values any) (string, []byte) {
	t.Helper()
	data := tensorData(t, values)
	dims := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(shape)), ", "), "[]")
	return fmt.Sprintf(`{"name": %s, "shape": [%s], "datatype": %q, "parameters": {"binary_data_size": %d}}`, strconvQuote(name), dims, datatype, len(data)), data
}

// post sends body to model path's infer endpoint, with the oip.InferenceHeader when header is not empty.
func post(t *testing.T, url, header string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set(oip.InferenceHeader, header)
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// jsonOutputs reads an inference answer, binary or not, and returns its outputs as the JSON answer would have
// them: each binary output's bytes decoded (independently of the server's encoder, with encoding/binary) and put
// back as "data". It fails the test when the answer is not well formed.
func jsonOutputs(t *testing.T, resp *http.Response) (string, bool) {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	header := resp.Header.Get(oip.InferenceHeader)
	binaryAnswer := header != ""
	rest := []byte{}
	if binaryAnswer {
		n, err := strconv.Atoi(header)
		if err != nil || n > len(body) {
			t.Fatalf("%s %q for a body of %d bytes", oip.InferenceHeader, header, len(body))
		}
		body, rest = body[:n], body[n:]
		if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Fatalf("Content-Type %q of a binary answer", ct)
		}
	} else if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q of a JSON answer", ct)
	}
	var answer struct {
		Outputs []struct {
			Name       string  `json:"name"`
			Shape      []int64 `json:"shape"`
			Datatype   string  `json:"datatype"`
			Parameters *struct {
				BinaryDataSize int `json:"binary_data_size"`
			} `json:"parameters,omitempty"`
			Data json.RawMessage `json:"data,omitempty"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatalf("the JSON part %q: %v", body, err)
	}
	for i, o := range answer.Outputs {
		if o.Parameters == nil {
			continue
		}
		if o.Data != nil || o.Parameters.BinaryDataSize > len(rest) {
			t.Fatalf("binary output %q: data %s, %d bytes of %d left", o.Name, o.Data, o.Parameters.BinaryDataSize, len(rest))
		}
		raw := bytes.NewReader(rest[:o.Parameters.BinaryDataSize])
		rest = rest[o.Parameters.BinaryDataSize:]
		var values any
		n := int(elements(o.Shape))
		switch o.Datatype {
		case "FP32":
			values = make([]float32, n)
		case "INT64":
			values = make([]int64, n)
		case "BOOL":
			values = make([]bool, n)
		case "FP16":
			values = make([]uint16, n)
		case "BYTES":
			var strs []string
			for range n {
				var size uint32
				_ = binary.Read(raw, binary.LittleEndian, &size)
				s := make([]byte, size)
				_, _ = io.ReadFull(raw, s)
				strs = append(strs, string(s))
			}
			values = strs
		}
		if o.Datatype != "BYTES" {
			if err := binary.Read(raw, binary.LittleEndian, values); err != nil {
				t.Fatalf("binary output %q: %v", o.Name, err)
			}
		}
		if raw.Len() != 0 {
			t.Fatalf("binary output %q: %d bytes left over", o.Name, raw.Len())
		}
		if halves, ok := values.([]uint16); ok {
			f := make([]float32, len(halves))
			for j, h := range halves {
				f[j] = float16.Frombits(h).Float32()
			}
			values = f
		}
		answer.Outputs[i].Data, _ = json.Marshal(values)
		answer.Outputs[i].Parameters = nil
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the binary outputs", len(rest))
	}
	return mustJSON(t, answer.Outputs), binaryAnswer
}

func TestABinaryRequestAsTritonclientSendsItGetsTheJSONRequestsValues(t *testing.T) {
	_, ts := irisServer(t, Options{})
	url := ts.URL + "/v2/models/iris/infer"
	values := append(append([]float32{}, examples[0]...), examples[1]...)
	jsonInput := fmt.Sprintf(`{"name":"input","shape":[2,4],"datatype":"FP32","data":%s}`, mustJSON(t, values))
	want, _ := jsonOutputs(t, post(t, url, "", []byte(`{"inputs":[`+jsonInput+`]}`)))
	input, data := binaryInput(t, "input", "FP32", []int64{2, 4}, values)
	for _, tc := range []struct {
		name       string
		json       string
		binary     []byte
		wantBinary bool
	}{
		{"binary input, outputs requested as binary (tritonclient with outputs=[InferRequestedOutput(binary_data=True)])",
			`{"inputs": [` + input + `], "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}]}`, data, true},
		{"binary input, no outputs named (tritonclient's default: binary_data_output)",
			`{"inputs": [` + input + `], "parameters": {"binary_data_output": true}}`, data, true},
		{"binary input, a JSON answer when nothing asks for binary",
			`{"inputs": [` + input + `]}`, data, false},
		{"an output's binary_data false overrides binary_data_output",
			`{"parameters": {"binary_data_output": true}, "inputs": [` + input + `], "outputs": [{"name": "probabilities", "parameters": {"binary_data": false}}]}`, data, false},
		{"JSON input, binary output",
			`{"inputs":[` + jsonInput + `],"outputs":[{"name":"probabilities","parameters":{"binary_data":true}}]}`, nil, true},
		{"a header with JSON alone",
			`{"inputs":[` + jsonInput + `]}`, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := append([]byte(tc.json), tc.binary...)
			got, binaryAnswer := jsonOutputs(t, post(t, url, strconv.Itoa(len(tc.json)), body))
			if binaryAnswer != tc.wantBinary {
				t.Fatalf("binary answer %v, want %v", binaryAnswer, tc.wantBinary)
			}
			if got != want {
				t.Fatalf("outputs\n%s\nwant the JSON request's\n%s", got, want)
			}
		})
	}
}

func TestAJSONRequestGetsTheSameAnswerAsBefore(t *testing.T) {
	_, ts := irisServer(t, Options{})
	body := `{"id":"r1","inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}`
	resp := post(t, ts.URL+"/v2/models/iris/infer", "", []byte(body))
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get(oip.InferenceHeader) != "" || resp.Header.Get("Content-Type") != "application/json" || bytes.Contains(b, []byte("parameters")) {
		t.Fatalf("headers %v, body %s", resp.Header, b)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil || !bytes.HasSuffix(b, []byte("]}]}\n")) {
		t.Fatalf("%s: %v", b, err)
	}
}

func TestMixedJSONAndBinaryInputsOfEveryDatatypeAreServed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		build       func() ([]byte, error)
		inputs      func(t *testing.T) ([]string, [][]byte)
		wantOutputs string
	}{
		{
			name:  "a scalar in binary, a matrix in JSON",
			build: onnxtest.Scalars,
			inputs: func(t *testing.T) ([]string, [][]byte) {
				scale, b := binaryInput(t, "scale", "FP32", []int64{}, []float32{0.5})
				return []string{`{"name":` + strconvQuote(onnxtest.JSONInputName) + `,"datatype":"FP32","shape":[2,3],"data":[[1,2,3],[4,5,6]]}`, scale}, [][]byte{nil, b}
			},
			wantOutputs: `[{"name":"total","shape":[],"datatype":"FP32","data":[10.5]},{"name":"count","shape":[],"datatype":"INT64","data":[2]}]`,
		},
		{
			name:  "BOOL and FP16 in binary between JSON inputs",
			build: onnxtest.Masked,
			inputs: func(t *testing.T) ([]string, [][]byte) {
				mask, m := binaryInput(t, "mask", "BOOL", []int64{1, 3}, []bool{true, false, true})
				half, h := binaryInput(t, "half", "FP16", []int64{2, 2}, []uint16{0x3800, 0xbd00, 0x4200, 0x63d0}) // 0.5, -1.25, 3, 1000
				return []string{mask, `{"name":"a","datatype":"FP32","shape":[1,3],"data":[1,2,3]}`, `{"name":"b","datatype":"FP32","shape":[1,3],"data":[-1,-2,-3]}`, half}, [][]byte{m, nil, nil, h}
			},
			wantOutputs: `[{"name":"picked","shape":[1,3],"datatype":"FP32","data":[1,-2,3]},{"name":"inverted","shape":[1,3],"datatype":"BOOL","data":[false,true,false]},{"name":"doubled","shape":[2,2],"datatype":"FP16","data":[1,-2.5,6,2000]}]`,
		},
		{
			name:  "BYTES and INT64 in binary",
			build: onnxtest.Labels,
			inputs: func(t *testing.T) ([]string, [][]byte) {
				class, c := binaryInput(t, "class", "INT64", []int64{1}, []int64{0})
				word, w := binaryInput(t, "word", "BYTES", []int64{1}, []string{"cat"})
				return []string{class, word}, [][]byte{c, w}
			},
			wantOutputs: `[{"name":"name","shape":[1],"datatype":"BYTES","data":["cat"]},{"name":"id","shape":[1],"datatype":"INT64","data":[0]}]`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := served(t, inferencetest.Write(t, tc.build))
			inputs, data := tc.inputs(t)
			for _, ask := range []string{`"binary_data_output": false`, `"binary_data_output": true`} {
				header := `{"parameters": {` + ask + `}, "inputs": [` + strings.Join(inputs, ", ") + `]}`
				body := append([]byte(header), bytes.Join(data, nil)...)
				got, _ := jsonOutputs(t, post(t, ts.URL+"/v2/models/m/infer", strconv.Itoa(len(header)), body))
				if got != tc.wantOutputs {
					t.Fatalf("%s: outputs\n%s\nwant\n%s", ask, got, tc.wantOutputs)
				}
			}
		})
	}
}

func TestBadBinaryRequestsGetA400NamingTheInputAndField(t *testing.T) {
	_, ts := irisServer(t, Options{MaxBody: 4096})
	url := ts.URL + "/v2/models/iris/infer"
	four := tensorData(t, []float32{5.1, 3.5, 1.4, 0.2})
	request := func(parameters string) string {
		return `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":` + parameters + `}]}`
	}
	good := request(`{"binary_data_size":16}`)
	withHeader := func(json string, data []byte) (string, []byte) {
		return strconv.Itoa(len(json)), append([]byte(json), data...)
	}
	for _, tc := range []struct {
		name   string
		header string
		body   []byte
		want   string
	}{
		{"a header that is not a number", "sixteen", append([]byte(good), four...), `Inference-Header-Content-Length: "sixteen" is not a number`},
		{"a negative header", "-1", append([]byte(good), four...), "Inference-Header-Content-Length: -1 is negative"},
		{"a header beyond the body", "9999", append([]byte(good), four...), "Inference-Header-Content-Length: 9999 is more than the body's"},
		{"a header that cuts the JSON", "10", append([]byte(good), four...), "invalid JSON"},
		{"a size beyond the binary data", "", nil, `input "input": parameters.binary_data_size 16 is more than the 12 bytes`},
		{"binary data left over", "", nil, "add up to 16 bytes, but 20 bytes follow"},
		{"binary data without a header", "none", []byte(good), `input "input": parameters.binary_data_size 16 is more than the 0 bytes of binary data left after the JSON request (no Inference-Header-Content-Length header`},
		{"a size that does not fit the shape", "", nil, `input "input": parameters.binary_data_size is 12 bytes, shape [1 4] of FP32 needs 16 (4 × 4 bytes)`},
		{"a size that is not a multiple of the element", "", nil, `input "input": parameters.binary_data_size is 15 bytes, shape [1 4] of FP32 needs 16`},
		{"a size that is not an integer", "", nil, `input "input": parameters.binary_data_size must be a non-negative integer, not 16.0`},
		{"a negative size", "", nil, `input "input": parameters.binary_data_size must be a non-negative integer, not -16`},
		{"a size that is a string", "", nil, `input "input": parameters.binary_data_size must be a non-negative integer, not "16"`},
		{"both data and a binary size", "", nil, `input "input" has both data and parameters.binary_data_size`},
		{"binary_data that is not a boolean", "", nil, `output "probabilities": parameters.binary_data must be true or false, not 1`},
		{"binary_data_output that is not a boolean", "", nil, `the request's parameters.binary_data_output must be true or false, not "yes"`},
		{"a binary input of the wrong datatype", "", nil, "datatype INT64, the model wants FP32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header, body := tc.header, tc.body
			switch tc.name {
			case "a size beyond the binary data":
				header, body = withHeader(good, four[:12])
			case "binary data left over":
				header, body = withHeader(good, append(append([]byte{}, four...), 1, 2, 3, 4))
			case "a size that does not fit the shape":
				header, body = withHeader(request(`{"binary_data_size":12}`), four[:12])
			case "a size that is not a multiple of the element":
				header, body = withHeader(request(`{"binary_data_size":15}`), four[:15])
			case "a size that is not an integer":
				header, body = withHeader(request(`{"binary_data_size":16.0}`), four)
			case "a negative size":
				header, body = withHeader(request(`{"binary_data_size":-16}`), four)
			case "a size that is a string":
				header, body = withHeader(request(`{"binary_data_size":"16"}`), four)
			case "both data and a binary size":
				header, body = withHeader(`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16},"data":[1,2,3,4]}]}`, four)
			case "binary_data that is not a boolean":
				header, body = withHeader(`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"probabilities","parameters":{"binary_data":1}}]}`, nil)
			case "binary_data_output that is not a boolean":
				header, body = withHeader(`{"parameters":{"binary_data_output":"yes"},"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, nil)
			case "a binary input of the wrong datatype":
				header, body = withHeader(`{"inputs":[{"name":"input","shape":[1,2],"datatype":"INT64","parameters":{"binary_data_size":16}}]}`, four)
			}
			if header == "none" {
				header = ""
			}
			resp := post(t, url, header, body)
			var got struct{ Error string }
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 400 || !strings.Contains(got.Error, tc.want) {
				t.Fatalf("status %d %q (%v), want 400 with an error containing %q", resp.StatusCode, got.Error, err, tc.want)
			}
		})
	}
	// And the server keeps serving.
	header := strconv.Itoa(len(good))
	got, _ := jsonOutputs(t, post(t, url, header, append([]byte(good), four...)))
	if !strings.Contains(got, `"probabilities"`) {
		t.Fatalf("after the bad requests: %s", got)
	}
}

func TestServerMetadataListsTheBinaryTensorDataExtension(t *testing.T) {
	_, ts := irisServer(t, Options{})
	code, body := do(t, "GET", ts.URL+"/v2", "")
	if code != 200 || fmt.Sprint(body["extensions"]) != "[binary_tensor_data]" {
		t.Fatalf("%d %v", code, body)
	}
}
