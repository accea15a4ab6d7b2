package serve

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/model"
)

// FuzzDecodeInferRequest: no request body panics the decoder, and whatever it accepts fits the model's inputs.
func FuzzDecodeInferRequest(f *testing.F) {
	for _, seed := range []string{
		`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`,
		`{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,7,8]]}],"outputs":[{"name":"probabilities"}]}`,
		`{"inputs":[{"name":"ids","shape":[1,2],"datatype":"INT64","data":[[1,2]]}]}`,
		`{"inputs":[{"name":"input","shape":[9223372036854775807,4],"datatype":"FP32","data":[1]}]}`,
		`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[[[[[1]]]]]}]}`,
		`{"instances":[[1,2,3,4]]}`,
		`{"inputs":[{"name":"sr","shape":[],"datatype":"INT64","data":16000}]}`,
		`{"inputs":[{"name":"sr","shape":[],"datatype":"INT64","data":[16000]}]}`,
		`{"inputs":[{"name":"mask","shape":[2],"datatype":"BOOL","data":[true,false]},{"name":"words","shape":[1,1],"datatype":"BYTES","data":[["émeu"]]}]}`,
		`{"inputs":[{"name":"half","shape":[1],"datatype":"FP16","data":[1e9]}]}`,
		`[]`, `{`, `null`,
	} {
		f.Add([]byte(seed))
	}
	inputs := []model.Tensor{
		{Name: "input", DType: "float32", Shape: []int64{-1, 4}}, {Name: "ids", DType: "int64", Shape: []int64{-1, -1}},
		{Name: "sr", DType: "int64", Shape: []int64{}}, {Name: "mask", DType: "bool", Shape: []int64{-1}},
		{Name: "words", DType: "string", Shape: nil}, {Name: "half", DType: "float16", Shape: []int64{-1}},
	}
	outputs := []model.Tensor{{Name: "probabilities", DType: "float32", Shape: []int64{-1, 3}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := decodePredictRequest(body, inputs[0]); err != nil && !errors.Is(err, errBadRequest) && !errors.Is(err, inference.ErrBadInput) {
			t.Fatalf("predict error %v wraps neither errBadRequest nor ErrBadInput", err)
		}
		req, err := decodeInferRequest(body, inputs, outputs)
		if err != nil {
			if !errors.Is(err, errBadRequest) && !errors.Is(err, inference.ErrBadInput) {
				t.Fatalf("error %v wraps neither errBadRequest nor ErrBadInput", err)
			}
			return
		}
		for _, in := range req.Inputs {
			decl, _ := find(inputs, in.Name)
			if err := inference.CheckTensor(decl, in); err != nil {
				t.Fatalf("accepted an input that does not fit: %v", err)
			}
		}
	})
}

// FuzzTokensMatchEncodingJSON: on any valid JSON value, tokens reads what json.Decoder.Token reads; on anything
// else it ends without a panic.
func FuzzTokensMatchEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		`[1,2.5,-3e-7]`, `[[true,false],[null,"a\"b\u00e9\\"]]`, ` [ 1 , [ 2 ] ] `, `"x"`, `16000`, `[{"a":1}]`,
		`[1,`, `]`, `}`, `tru`, `"unterminated`, `[1 2]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := tokens{b: b}
		if !json.Valid(b) {
			for range len(b) + 1 {
				if tok, err := s.next(); err != nil || tok.kind == 0 {
					return
				}
			}
			t.Fatalf("tokens of %q do not end", b)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		for {
			want, wantErr := dec.Token()
			got, err := s.next()
			if err != nil {
				t.Fatalf("%q: %v", b, err)
			}
			if wantErr == io.EOF {
				if got.kind != 0 {
					t.Fatalf("%q: token %q after the value", b, got.text)
				}
				return
			}
			var same bool
			switch w := want.(type) {
			case json.Delim:
				same = got.kind == byte(w)
			case json.Number:
				same = got.kind == '0' && string(got.text) == string(w)
			case bool:
				same = got.kind == map[bool]byte{true: 't', false: 'f'}[w]
			case nil:
				same = got.kind == 'n'
			case string:
				str, err := got.str()
				same = got.kind == '"' && err == nil && str == w
			}
			if !same {
				t.Fatalf("%q: token %q (%c), encoding/json read %#v", b, got.text, got.kind, want)
			}
		}
	})
}

// FuzzParseInferRequestMatchesEncodingJSON: what parseInferRequest reads, encoding/json reads the same way.
func FuzzParseInferRequestMatchesEncodingJSON(f *testing.F) {
	for _, seed := range parsedRequests {
		f.Add([]byte(seed))
	}
	for _, seed := range []string{
		`{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]}],"inputs":[]}`, `{"Inputs":[]}`, `{"id":null}`,
		`{"inputs":[{"name":"a","shape":[1.5]}]}`, `{"inputs":[{"nom":"a"}]}`, `{"id":"x"} {}`, `{"id":"\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got inferRequest
		if !parseInferRequest(body, &got) {
			return
		}
		var want inferRequest
		if err := strictUnmarshal(body, &want); err != nil {
			t.Fatalf("%q: parsed, but encoding/json says %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parsed %+v, encoding/json %+v", body, got, want)
		}
	})
}

// parsedRequests are requests as clients send them, which parseInferRequest reads without encoding/json.
var parsedRequests = []string{
	`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}`,
	`{"id":"r-1","parameters":{"a":[1]},"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","parameters":{},"data":[[1,2,3,4],[5,6,7,8]]},{"name":"ids","shape":[],"datatype":"INT64","data":7}],"outputs":[{"name":"probabilities","parameters":{"x":1}}]}`,
	"{ \"inputs\" : [ { \"name\" : \"w\\u00e9\", \"shape\" : [ ], \"datatype\" : \"BYTES\" , \"data\" : [\"\\\"\"] } ] }\n",
}

func TestParseInferRequestReadsTheRequestsClientsSend(t *testing.T) {
	for _, body := range parsedRequests {
		var req inferRequest
		if !parseInferRequest([]byte(body), &req) {
			t.Errorf("%s: left to encoding/json", body)
		}
	}
}

// FuzzAppendInferResponseMatchesEncodingJSON: appendInferResponse writes what json.Encoder writes, byte for byte,
// and gives up exactly where encoding/json fails (NaN, infinities).
func FuzzAppendInferResponseMatchesEncodingJSON(f *testing.F) {
	f.Add("iris", "1.0.0", "r-1", "probabilities", uint32(0x3f7f8000), uint32(0x30000000), int64(-3), true)
	f.Add("m<&>", "", "\u2028é\x80\"\\", "out\n", uint32(0x7fc00000), uint32(0x7f800000), int64(1)<<60, false)
	f.Add("m", "v", "", "y", uint32(0x00000001), uint32(0x4b000000), int64(0), false)
	f.Fuzz(func(t *testing.T, name, version, id, output string, f1, f2 uint32, n int64, b bool) {
		resp := inferResponse{ModelName: name, ModelVersion: version, ID: id, Outputs: []responseOutput{
			{Name: output, Shape: []int64{1, 2}, Datatype: "FP32", Data: []float32{math.Float32frombits(f1), math.Float32frombits(f2)}},
			{Name: output + "2", Shape: []int64{}, Datatype: "INT64", Data: []int64{n}},
			{Name: "b", Shape: []int64{1}, Datatype: "BOOL", Data: []bool{b}},
			{Name: "s", Shape: []int64{2}, Datatype: "BYTES", Data: []string{name, id}},
			{Name: "nil", Shape: []int64{0}, Datatype: "FP32", Data: []float32(nil)},
		}}
		got, ok := appendInferResponse(nil, resp)
		var want bytes.Buffer
		err := json.NewEncoder(&want).Encode(resp)
		if ok != (err == nil) {
			t.Fatalf("appendInferResponse ok %v, encoding/json error %v", ok, err)
		}
		if ok && !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendInferResponse wrote\n%s\nencoding/json\n%s", got, want.Bytes())
		}
	})
}

// FuzzDecodeBinaryRequest: no body of the binary tensor data extension panics the decoder, errors say what to fix,
// and what it accepts decodes as the same request with the values in JSON does.
func FuzzDecodeBinaryRequest(f *testing.F) {
	le := binary.LittleEndian
	four := le.AppendUint32(le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, math.Float32bits(5.1)), math.Float32bits(3.5)), math.Float32bits(1.4)), math.Float32bits(-0.2))
	for _, seed := range []struct {
		json   string
		bin    []byte
		header string
	}{
		{`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}],"outputs":[{"name":"probabilities","parameters":{"binary_data":true}}]}`, four, ""},
		{`{"parameters":{"binary_data_output":true},"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}`, four, ""},
		{`{"inputs":[{"name":"mask","shape":[3],"datatype":"BOOL","parameters":{"binary_data_size":3}},{"name":"sr","shape":[],"datatype":"INT64","data":16000},{"name":"half","shape":[2],"datatype":"FP16","parameters":{"binary_data_size":4}}]}`, []byte{1, 0, 1, 0x00, 0x38, 0x00, 0x7c}, ""},
		{`{"inputs":[{"name":"words","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":12}}]}`, []byte{3, 0, 0, 0, 'c', 'a', 't', 1, 0, 0, 0, 0xff}, ""},
		{`{"inputs":[{"name":"ids","shape":[1,2],"datatype":"INT64","parameters":{"binary_data_size":16}}]}`, le.AppendUint64(le.AppendUint64(nil, 7), 1<<63), ""},
		{`{"inputs":[{"name":"words","shape":[1073741824],"datatype":"BYTES","parameters":{"binary_data_size":4}}]}`, []byte{0xff, 0xff, 0xff, 0xff}, ""},
		{`{"inputs":[{"name":"input","shape":[4611686018427387904,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}`, four, ""},
		{`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}`, four, "-3"},
		{`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}`, four, "99999999999999999999"},
	} {
		f.Add([]byte(seed.json), seed.bin, seed.header)
	}
	inputs := []model.Tensor{
		{Name: "input", DType: "float32", Shape: []int64{-1, 4}}, {Name: "ids", DType: "int64", Shape: []int64{-1, -1}},
		{Name: "sr", DType: "int64", Shape: []int64{}}, {Name: "mask", DType: "bool", Shape: []int64{-1}},
		{Name: "words", DType: "string", Shape: nil}, {Name: "half", DType: "float16", Shape: []int64{-1}},
	}
	outputs := []model.Tensor{{Name: "probabilities", DType: "float32", Shape: []int64{-1, 3}}}
	f.Fuzz(func(t *testing.T, jsonPart, bin []byte, header string) {
		if header == "" {
			header = strconv.Itoa(len(jsonPart))
		}
		req, err := decodeBinaryRequest(append(jsonPart[:len(jsonPart):len(jsonPart)], bin...), header, inputs, outputs)
		if err != nil {
			if !errors.Is(err, errBadRequest) && !errors.Is(err, inference.ErrBadInput) {
				t.Fatalf("error %v wraps neither errBadRequest nor ErrBadInput", err)
			}
			return
		}
		// The JSON twin: every input's values as JSON data.
		var twin struct {
			Inputs []map[string]any `json:"inputs"`
		}
		for _, in := range req.Inputs {
			values := data(in)
			if in.Len() == 0 || !jsonable(values) {
				return // JSON cannot say an empty tensor, NaN, infinities or bytes that are not UTF-8
			}
			twin.Inputs = append(twin.Inputs, map[string]any{"name": in.Name, "shape": in.Shape, "datatype": datatype(in.DType), "data": values})
		}
		body, err := json.Marshal(twin)
		if err != nil {
			t.Fatal(err)
		}
		want, err := decodeInferRequest(body, inputs, outputs)
		if err != nil {
			t.Fatalf("binary request accepted, its JSON twin %s refused: %v", body, err)
		}
		if !reflect.DeepEqual(req.Inputs, want.Inputs) {
			t.Fatalf("binary request decoded as %+v, its JSON twin %s as %+v", req.Inputs, body, want.Inputs)
		}
	})
}

// jsonable says whether JSON can carry values exactly.
func jsonable(values any) bool {
	switch v := values.(type) {
	case []float32:
		for _, f := range v {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return false
			}
		}
	case []string:
		for _, s := range v {
			if !utf8.ValidString(s) {
				return false
			}
		}
	}
	return true
}
