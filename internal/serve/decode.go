package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/oip"
)

// errBadRequest marks a request the client must fix (400).
var errBadRequest = errors.New("bad request")

// maxFloat16 is the largest finite float16.
const maxFloat16 = 65504

// maxNesting bounds how deep tensor data may nest; no supported tensor has more dimensions.
const maxNesting = 32

// Open Inference Protocol datatypes of the dtypes marina serves, and the names of others for metadata.
var (
	dtypeOf = map[string]string{
		"FP32": inference.Float32, "FP16": inference.Float16, "INT64": inference.Int64, "BOOL": inference.Bool,
		"BYTES": inference.String,
	}
	datatypeOf = map[string]string{
		"float32": "FP32", "int64": "INT64", "float64": "FP64", "float16": "FP16", "bfloat16": "BF16",
		"int32": "INT32", "int16": "INT16", "int8": "INT8", "uint8": "UINT8", "uint16": "UINT16",
		"uint32": "UINT32", "uint64": "UINT64", "bool": "BOOL", "string": "BYTES",
	}
)

// datatypes lists the protocol datatypes marina serves, for messages.
const datatypes = "FP32, FP16, INT64, BOOL or BYTES"

// datatype is the protocol name of a model dtype.
func datatype(dtype string) string {
	if d, ok := datatypeOf[dtype]; ok {
		return d
	}
	return dtype
}

// inferRequest is an Open Inference Protocol v2 inference request.
type inferRequest struct {
	ID         string            `json:"id,omitempty"`
	Parameters json.RawMessage   `json:"parameters,omitempty"`
	Inputs     []requestInput    `json:"inputs"`
	Outputs    []requestedOutput `json:"outputs,omitempty"`
}

type requestInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data"`
}

type requestedOutput struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// decodedRequest is an inference request checked against the model's inputs.
type decodedRequest struct {
	ID      string
	Inputs  []inference.Tensor
	Outputs []string // requested output names; empty means all
	// binary says, for each of Outputs, whether to answer it as binary tensor data; nil when none is.
	binary []bool
	// binaryAll is the request's parameters.binary_data_output: the answer's outputs are binary tensor data unless
	// a requested output says otherwise.
	binaryAll bool
}

// binaryOutput says whether the output named name goes as binary tensor data, and whether it is answered at all.
func (r decodedRequest) binaryOutput(name string) (binary, answered bool) {
	if len(r.Outputs) == 0 {
		return r.binaryAll, true
	}
	i := slices.Index(r.Outputs, name)
	if i < 0 {
		return false, false
	}
	if r.binary == nil {
		return false, true
	}
	return r.binary[i], true
}

// decodeInferRequest parses an inference request body and checks every input against the model's declared inputs
// and outputs. Errors wrap errBadRequest or inference.ErrBadInput.
func decodeInferRequest(body []byte, inputs, outputs []model.Tensor) (decodedRequest, error) {
	return decodeRequest(body, nil, false, inputs, outputs)
}

// decodeBinaryRequest decodes a request of the binary tensor data extension: header is the value of its
// oip.InferenceHeader, the length of the JSON request at the start of body; the inputs with a
// parameters.binary_data_size take their data from the bytes after it, in order.
func decodeBinaryRequest(body []byte, header string, inputs, outputs []model.Tensor) (decodedRequest, error) {
	jsonPart, binaryPart, err := oip.Split(body, header)
	if err != nil {
		return decodedRequest{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return decodeRequest(jsonPart, binaryPart, true, inputs, outputs)
}

// decodeRequest decodes the JSON request body, whose binary inputs' data is bin; split says whether the body came
// with an oip.InferenceHeader, for messages.
func decodeRequest(body, bin []byte, split bool, inputs, outputs []model.Tensor) (decodedRequest, error) {
	var req inferRequest
	if !parseInferRequest(body, &req) {
		req = inferRequest{}
		if err := strictUnmarshal(body, &req); err != nil {
			return decodedRequest{}, err
		}
	}
	if len(req.Inputs) == 0 {
		return decodedRequest{}, fmt.Errorf("%w: the request has no inputs", errBadRequest)
	}
	out := decodedRequest{ID: req.ID}
	if len(req.Parameters) > 0 {
		all, _, err := binaryFlag(req.Parameters, "binary_data_output")
		if err != nil {
			return decodedRequest{}, fmt.Errorf("%w: the request's %v", errBadRequest, err)
		}
		out.binaryAll = all
	}
	used := 0 // bytes of bin the binary inputs took so far
	for i, in := range req.Inputs {
		if in.Name == "" {
			return decodedRequest{}, fmt.Errorf("%w: inputs[%d] has no name", errBadRequest, i)
		}
		dtype, ok := dtypeOf[in.Datatype]
		if !ok {
			return decodedRequest{}, fmt.Errorf("%w: input %q: datatype %q is not supported (%s)", errBadRequest, in.Name, in.Datatype, datatypes)
		}
		if in.Shape == nil {
			return decodedRequest{}, fmt.Errorf("%w: input %q has no shape", errBadRequest, in.Name)
		}
		var size int64
		binary := false
		if len(in.Parameters) > 0 {
			var err error
			if size, binary, err = binarySize(in.Parameters); err != nil {
				return decodedRequest{}, fmt.Errorf("%w: input %q: %v", errBadRequest, in.Name, err)
			}
		}
		switch {
		case binary && len(in.Data) > 0:
			return decodedRequest{}, fmt.Errorf("%w: input %q has both data and parameters.binary_data_size: send one", errBadRequest, in.Name)
		case !binary && len(in.Data) == 0:
			return decodedRequest{}, fmt.Errorf("%w: input %q has no data", errBadRequest, in.Name)
		case binary && size > int64(len(bin)-used):
			hint := ""
			if !split {
				hint = " (no " + oip.InferenceHeader + " header says where the JSON ends)"
			}
			return decodedRequest{}, fmt.Errorf("%w: input %q: parameters.binary_data_size %d is more than the %d bytes of binary data left after the JSON request%s", errBadRequest, in.Name, size, len(bin)-used, hint)
		}
		t := inference.Tensor{Name: in.Name, DType: dtype, Shape: in.Shape}
		decl, known := find(inputs, in.Name)
		if !known {
			return decodedRequest{}, fmt.Errorf("%w: unknown input %q (the model's inputs: %s)", inference.ErrBadInput, in.Name, names(inputs))
		}
		// The dtype first, so a wrong datatype is named as such rather than as unparsable data.
		if decl.DType != dtype {
			return decodedRequest{}, fmt.Errorf("%w: input %q: datatype %s, the model wants %s", inference.ErrBadInput, in.Name, in.Datatype, datatype(decl.DType))
		}
		if binary {
			if err := readBinary(bin[used:used+int(size)], &t); err != nil {
				return decodedRequest{}, fmt.Errorf("%w: input %q: %v", errBadRequest, in.Name, err)
			}
			used += int(size)
		} else {
			if err := readData(in.Data, &t); err != nil {
				return decodedRequest{}, fmt.Errorf("%w: input %q: %v", errBadRequest, in.Name, err)
			}
			if n := elements(in.Shape); n < 0 || int64(t.Len()) != n {
				return decodedRequest{}, fmt.Errorf("%w: input %q: shape %v needs %s values, data has %d", errBadRequest, in.Name, in.Shape, count(n), t.Len())
			}
		}
		if err := inference.CheckTensor(decl, t); err != nil {
			return decodedRequest{}, err
		}
		out.Inputs = append(out.Inputs, t)
	}
	if used != len(bin) {
		return decodedRequest{}, fmt.Errorf("%w: the inputs' parameters.binary_data_size add up to %d bytes, but %d bytes follow the JSON request (%s %d)", errBadRequest, used, len(bin), oip.InferenceHeader, len(body))
	}
	for i, o := range req.Outputs {
		if _, ok := find(outputs, o.Name); !ok {
			return decodedRequest{}, fmt.Errorf("%w: outputs[%d]: the model has no output %q", errBadRequest, i, o.Name)
		}
		out.Outputs = append(out.Outputs, o.Name)
		binary := out.binaryAll
		if len(o.Parameters) > 0 {
			b, set, err := binaryFlag(o.Parameters, "binary_data")
			if err != nil {
				return decodedRequest{}, fmt.Errorf("%w: output %q: %v", errBadRequest, o.Name, err)
			}
			if set {
				binary = b
			}
		}
		if binary && out.binary == nil {
			out.binary = make([]bool, len(req.Outputs)) // the outputs before were not binary
		}
		if out.binary != nil {
			out.binary[i] = binary
		}
	}
	return out, nil
}

// parseInferRequest reads the requests clients send, written with the field names of the protocol, as
// strictUnmarshal would, and returns false for anything else: invalid JSON, a field of another type, null, a
// repeated, unknown or differently cased name. The caller then decodes with strictUnmarshal, whose result and
// errors stay the reference (FuzzParseInferRequestMatchesEncodingJSON). Reflection made decoding the largest cost
// of marina serve's own after the network and ONNX Runtime (bench/serve's profile: 11% of its CPU per request).
func parseInferRequest(body []byte, req *inferRequest) bool {
	if !json.Valid(body) {
		return false
	}
	s := tokens{b: body}
	ok := s.object(func(key string) bool {
		switch key {
		case "id":
			return s.string(&req.ID)
		case "parameters":
			return s.raw(&req.Parameters)
		case "inputs":
			req.Inputs = []requestInput{}
			return s.array(func() bool {
				var in requestInput
				ok := s.object(func(key string) bool {
					switch key {
					case "name":
						return s.string(&in.Name)
					case "shape":
						in.Shape = []int64{}
						return s.array(func() bool {
							tok, err := s.next()
							if err != nil || tok.kind != '0' {
								return false
							}
							d, err := strconv.ParseInt(string(tok.text), 10, 64)
							in.Shape = append(in.Shape, d)
							return err == nil
						})
					case "datatype":
						return s.string(&in.Datatype)
					case "parameters":
						return s.raw(&in.Parameters)
					case "data":
						return s.raw(&in.Data)
					}
					return false
				})
				req.Inputs = append(req.Inputs, in)
				return ok
			})
		case "outputs":
			req.Outputs = []requestedOutput{}
			return s.array(func() bool {
				var out requestedOutput
				ok := s.object(func(key string) bool {
					switch key {
					case "name":
						return s.string(&out.Name)
					case "parameters":
						return s.raw(&out.Parameters)
					}
					return false
				})
				req.Outputs = append(req.Outputs, out)
				return ok
			})
		}
		return false
	})
	if tok, err := s.next(); err != nil || tok.kind != 0 {
		return false
	}
	return ok
}

// strictUnmarshal decodes exactly one JSON object, refusing unknown fields and trailing data.
func strictUnmarshal(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: invalid JSON: %v", errBadRequest, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: invalid JSON: data after the request object", errBadRequest)
	}
	return nil
}

// readData appends the values (numbers, booleans or strings, as t.DType says) of a flat or nested JSON array to
// t's buffer. Nested data must be rectangular and nest exactly as t.Shape says; flat data is checked by count only.
// A scalar's (shape []) data is a list of one value, or the value itself. raw is one JSON value encoding/json has
// checked, as it leaves a json.RawMessage.
func readData(raw json.RawMessage, t *inference.Tensor) error {
	s := tokens{b: raw}
	tok, err := s.next()
	if err != nil {
		return err
	}
	if tok.kind != '[' {
		if len(t.Shape) != 0 || tok.kind == ']' || tok.kind == '{' {
			return errors.New("data must be an array of values")
		}
		if err := appendValue(t, tok); err != nil {
			return err
		}
		if tok, err := s.next(); err != nil || tok.kind != 0 {
			return errors.New("data holds more than one value")
		}
		return nil
	}
	counts := []int64{0} // values or lists seen in each open list
	leaf := 0            // the depth at which numbers sit, once known
	for len(counts) > 0 {
		tok, err := s.next()
		if err != nil {
			return err
		}
		depth := len(counts)
		switch tok.kind {
		case '[':
			if depth >= maxNesting || (leaf != 0 && depth >= leaf) {
				return errors.New("data nests deeper than its numbers")
			}
			counts[depth-1]++
			counts = append(counts, 0)
		case ']':
			if leaf == 0 {
				return errors.New("data holds an empty list")
			}
			if leaf > 1 {
				if leaf != len(t.Shape) {
					return fmt.Errorf("nested data has %d levels, shape %v has %d", leaf, t.Shape, len(t.Shape))
				}
				if counts[depth-1] != t.Shape[depth-1] {
					return fmt.Errorf("nested data has a list of %d at level %d, shape %v wants %d", counts[depth-1], depth, t.Shape, t.Shape[depth-1])
				}
			}
			counts = counts[:depth-1]
		case '{', '}':
			return errors.New("data must be an array of values")
		case 0:
			return errTokens
		default:
			if leaf == 0 {
				leaf = depth
			} else if depth != leaf {
				return errors.New("data is ragged: values at different depths")
			}
			counts[depth-1]++
			if err := appendValue(t, tok); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendValue appends one JSON value to t's buffer, refusing one that is not of t's datatype.
func appendValue(t *inference.Tensor, tok token) error {
	want := datatype(t.DType)
	switch tok.kind {
	case '0':
		switch t.DType {
		case inference.Int64:
			n, err := strconv.ParseInt(string(tok.text), 10, 64)
			if err != nil {
				return fmt.Errorf("%s is not an INT64", tok.text)
			}
			t.Int64 = append(t.Int64, n)
			return nil
		case inference.Float32, inference.Float16:
			f, err := strconv.ParseFloat(string(tok.text), 32)
			if err != nil || (t.DType == inference.Float16 && math.Abs(f) > maxFloat16) {
				return fmt.Errorf("%s is not an %s", tok.text, want)
			}
			t.Float32 = append(t.Float32, float32(f))
			return nil
		}
	case 't', 'f':
		if t.DType == inference.Bool {
			t.Bool = append(t.Bool, tok.kind == 't')
			return nil
		}
	case '"':
		if t.DType == inference.String {
			str, err := tok.str()
			if err != nil {
				return err
			}
			t.String = append(t.String, str)
			return nil
		}
	}
	article := "a"
	if strings.HasPrefix(want, "FP") || strings.HasPrefix(want, "INT") {
		article = "an"
	}
	return fmt.Errorf("data holds %s, not %s %s value", tok.text, article, want)
}

// elements is the product of shape's dimensions, or -1 when a dimension is negative or the product overflows.
func elements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		if d < 0 || (d > 0 && n > (1<<62)/d) {
			return -1
		}
		n *= d
	}
	return n
}

func count(n int64) string {
	if n < 0 {
		return "an impossible number of"
	}
	return strconv.FormatInt(n, 10)
}

func find(ts []model.Tensor, name string) (model.Tensor, bool) {
	for _, t := range ts {
		if t.Name == name {
			return t, true
		}
	}
	return model.Tensor{}, false
}

func names(ts []model.Tensor) string {
	out := ""
	for i, t := range ts {
		if i > 0 {
			out += ", "
		}
		out += t.Name
	}
	return out
}

// predictRequest is a KServe v1 prediction request.
type predictRequest struct {
	Instances []json.RawMessage `json:"instances"`
}

// decodePredictRequest turns KServe v1 instances into one batched tensor for decl, whose dimensions after the
// batch must be fixed.
func decodePredictRequest(body []byte, decl model.Tensor) (inference.Tensor, error) {
	var req predictRequest
	if err := strictUnmarshal(body, &req); err != nil {
		return inference.Tensor{}, err
	}
	if len(req.Instances) == 0 {
		return inference.Tensor{}, fmt.Errorf("%w: \"instances\" is empty or missing", errBadRequest)
	}
	if !inference.Supported(decl.DType) {
		return inference.Tensor{}, fmt.Errorf("%w: input %q is %s; only %s inputs are served", errBadRequest, decl.Name, decl.DType, datatypes)
	}
	if len(decl.Shape) < 1 || elements(decl.Shape[1:]) <= 0 {
		return inference.Tensor{}, fmt.Errorf("%w: input %q has shape %v; KServe v1 needs a batch dimension and fixed dimensions after it, use the v2 infer endpoint", errBadRequest, decl.Name, decl.Shape)
	}
	t := inference.Tensor{Name: decl.Name, DType: decl.DType, Shape: append([]int64{int64(len(req.Instances))}, decl.Shape[1:]...)}
	per := elements(decl.Shape[1:])
	for i, raw := range req.Instances {
		one := inference.Tensor{DType: decl.DType, Shape: decl.Shape[1:]}
		if err := readData(raw, &one); err != nil {
			return inference.Tensor{}, fmt.Errorf("%w: instances[%d]: %v", errBadRequest, i, err)
		}
		if int64(one.Len()) != per {
			return inference.Tensor{}, fmt.Errorf("%w: instances[%d] has %d values, input %q wants %d (shape %v)", errBadRequest, i, one.Len(), decl.Name, per, decl.Shape[1:])
		}
		t.Float32 = append(t.Float32, one.Float32...)
		t.Int64 = append(t.Int64, one.Int64...)
		t.Bool = append(t.Bool, one.Bool...)
		t.String = append(t.String, one.String...)
	}
	return t, inference.CheckTensor(decl, t)
}

// DecodeInputs reads the inputs of an Open Inference Protocol v2 inference request body (what a sample request
// under models/<model>/samples/ holds) and checks them against the model's inputs and outputs, as the infer
// endpoint does. Errors say what to fix.
func DecodeInputs(body []byte, inputs, outputs []model.Tensor) ([]inference.Tensor, error) {
	req, err := decodeInferRequest(body, inputs, outputs)
	return req.Inputs, err
}
