package router

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/marina-dev/marina/internal/oip"
)

// Response is what one version answered to a request.
type Response struct {
	// Status is the HTTP status code; 0 when Err is set.
	Status int
	// Body is the response body, up to the router's limit.
	Body []byte
	// Truncated is set when the body was longer than the limit.
	Truncated bool
	// Err is a transport error: no response at all.
	Err error
	// Latency is the time from sending the request to the end of the response body.
	Latency time.Duration
	// InferenceHeader is the answer's Inference-Header-Content-Length header (the binary tensor data extension): the
	// length of the JSON at the start of Body, whose binary outputs follow it; empty for a JSON answer.
	InferenceHeader string
}

func (r Response) ok() bool { return r.Err == nil && r.Status >= 200 && r.Status < 300 }

// decompressed is r with a gzip body (encoding is its Content-Encoding) decompressed, up to limit: a client may ask
// for gzip, the shadow never is.
func decompressed(r Response, encoding string, limit int64) Response {
	if !strings.EqualFold(encoding, "gzip") || !r.ok() || r.Truncated {
		return r
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.Body))
	if err == nil {
		r.Body, err = io.ReadAll(io.LimitReader(zr, limit+1))
	}
	r.Truncated = err != nil || int64(len(r.Body)) > limit
	return r
}

// checkResponse reports why body is not a successful inference answer of protocol (ProtocolOIPv2 or
// ProtocolKServeV1): not JSON, or JSON without the outputs or predictions the protocol requires. It reads no further
// than that, leaving the values to Compare. header is the answer's Inference-Header-Content-Length: an OIP v2 answer
// with one is its JSON and then its binary outputs, whose sizes must add up to the rest of body.
func checkResponse(protocol string, body []byte, header string) error {
	if header == "" && wellFormed(protocol, body) {
		return nil
	}
	if protocol == ProtocolKServeV1 {
		_, err := decodeKServe(body)
		return err
	}
	_, _, err := decodeOIPAnswer(body, header)
	return err
}

// Result is the outcome of comparing a shadow's response with the primary's.
type Result string

// The results of a comparison; exactly one per mirrored request that got an answer.
const (
	// ResultExact means every output has the same name, datatype, shape and values.
	ResultExact Result = "exact"
	// ResultDiffers means the outputs have the same structure but some values differ (see MaxAbs, MaxRel, argmax).
	ResultDiffers Result = "differs"
	// ResultOutputMismatch means the two responses name different outputs.
	ResultOutputMismatch Result = "output_mismatch"
	// ResultDtypeMismatch means an output has a different datatype.
	ResultDtypeMismatch Result = "dtype_mismatch"
	// ResultShapeMismatch means an output has a different shape or number of values.
	ResultShapeMismatch Result = "shape_mismatch"
	// ResultErrorMismatch means one version succeeded and the other failed.
	ResultErrorMismatch Result = "error_mismatch"
	// ResultBothError means both versions failed.
	ResultBothError Result = "both_error"
	// ResultUnparseable means a successful response was not the protocol's JSON (or too large to compare).
	ResultUnparseable Result = "unparseable"
)

// Results lists every Result, for initialising metrics.
var Results = []Result{ResultExact, ResultDiffers, ResultOutputMismatch, ResultDtypeMismatch, ResultShapeMismatch,
	ResultErrorMismatch, ResultBothError, ResultUnparseable}

// Comparison is what Compare found.
type Comparison struct {
	Result Result
	// Numeric is set when MaxAbs and MaxRel were measured: both responses succeeded with numeric outputs of the same
	// shapes.
	Numeric bool
	// MaxAbs is the largest |primary - shadow| over every numeric value; +Inf when only one side is NaN.
	MaxAbs float64
	// MaxRel is the largest |primary - shadow| / max(|primary|, |shadow|).
	MaxRel float64
	// ArgmaxRows is how many classification rows were compared (rows of outputs whose last dimension holds class
	// scores, integer class labels, or BYTES labels); ArgmaxAgree of them picked the same class.
	ArgmaxRows, ArgmaxAgree int
	// LatencyDelta is the shadow's latency minus the primary's.
	LatencyDelta time.Duration
}

// ArgmaxAgrees reports whether every classification row picked the same class; false when there were none.
func (c Comparison) ArgmaxAgrees() bool { return c.ArgmaxRows > 0 && c.ArgmaxAgree == c.ArgmaxRows }

// tensor is one output: numbers or strings with a shape.
type tensor struct {
	name, datatype string
	shape          []int
	nums           []float64
	strs           []string
	integer        bool // every value is an integer: class labels when the tensor is a column
}

// Compare compares the shadow's response with the primary's for protocol (ProtocolOIPv2 or ProtocolKServeV1).
func Compare(protocol string, primary, shadow Response) Comparison {
	c := Comparison{LatencyDelta: shadow.Latency - primary.Latency}
	switch pok, sok := primary.ok(), shadow.ok(); {
	case !pok && !sok:
		c.Result = ResultBothError
		return c
	case pok != sok:
		c.Result = ResultErrorMismatch
		return c
	}
	if primary.Truncated || shadow.Truncated {
		c.Result = ResultUnparseable
		return c
	}
	parse := parseOIP
	if protocol == ProtocolKServeV1 {
		parse = parseKServe
	}
	p, err := parse(primary.Body, primary.InferenceHeader)
	if err != nil {
		c.Result = ResultUnparseable
		return c
	}
	s, err := parse(shadow.Body, shadow.InferenceHeader)
	if err != nil {
		c.Result = ResultUnparseable
		return c
	}
	c.Result = compareTensors(p, s, &c)
	return c
}

// compareTensors compares outputs by name and fills c's differences.
func compareTensors(p, s []tensor, c *Comparison) Result {
	if len(p) != len(s) {
		return ResultOutputMismatch
	}
	byName := make(map[string]*tensor, len(s))
	for i := range s {
		byName[s[i].name] = &s[i]
	}
	result := ResultExact
	for i := range p {
		a := &p[i]
		b, ok := byName[a.name]
		if !ok {
			return ResultOutputMismatch
		}
		switch {
		case a.datatype != b.datatype:
			result = worse(result, ResultDtypeMismatch)
			continue
		case !slices.Equal(a.shape, b.shape) || len(a.nums) != len(b.nums) || len(a.strs) != len(b.strs):
			result = worse(result, ResultShapeMismatch)
			continue
		}
		if !slices.Equal(a.strs, b.strs) {
			result = worse(result, ResultDiffers)
		}
		if a.datatype == "BYTES" {
			// Strings out of a model are labels (a LabelEncoder's class names): each one is a classification row, so a
			// changed label is a disagreement even when another output's rows agree.
			for j := range a.strs {
				c.ArgmaxRows++
				if a.strs[j] == b.strs[j] {
					c.ArgmaxAgree++
				}
			}
		}
		if len(a.nums) == 0 {
			continue
		}
		c.Numeric = true
		for j, x := range a.nums {
			y := b.nums[j]
			if x == y || (math.IsNaN(x) && math.IsNaN(y)) {
				continue
			}
			result = worse(result, ResultDiffers)
			d := math.Abs(x - y)
			if math.IsNaN(d) {
				d = math.Inf(1)
			}
			c.MaxAbs = max(c.MaxAbs, d)
			c.MaxRel = max(c.MaxRel, d/max(math.Abs(x), math.Abs(y)))
		}
		argmaxRows(a, b, c)
	}
	if result != ResultExact && result != ResultDiffers {
		c.Numeric = false
	}
	return result
}

// severity orders the results compareTensors returns, least severe first.
var severity = []Result{ResultExact, ResultDiffers, ResultShapeMismatch, ResultDtypeMismatch}

// worse returns the more severe of two results: structure mismatches over value differences over exact.
func worse(a, b Result) Result {
	if slices.Index(severity, b) > slices.Index(severity, a) {
		return b
	}
	return a
}

// argmaxRows counts the classification rows of a pair of same-shaped numeric tensors: rows of class scores (last
// dimension > 1) compare their argmax; integer labels (a vector or a column) compare as they are.
func argmaxRows(a, b *tensor, c *Comparison) {
	n := len(a.nums)
	last := 1
	if len(a.shape) > 0 {
		last = a.shape[len(a.shape)-1]
	}
	switch {
	case len(a.shape) >= 2 && last > 1 && n%last == 0:
		for r := 0; r < n; r += last {
			c.ArgmaxRows++
			if argmax(a.nums[r:r+last]) == argmax(b.nums[r:r+last]) {
				c.ArgmaxAgree++
			}
		}
	case a.integer && b.integer && (len(a.shape) == 1 || last == 1):
		for j := range a.nums {
			c.ArgmaxRows++
			if a.nums[j] == b.nums[j] {
				c.ArgmaxAgree++
			}
		}
	}
}

// argmax is the index of the first largest value; NaN never wins.
func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] || math.IsNaN(v[best]) {
			best = i
		}
	}
	return best
}

// oipResponse is the part of an Open Inference Protocol v2 inference response that is compared; id, model_name and
// model_version differ between versions by design.
type oipResponse struct {
	Outputs []struct {
		Name     string          `json:"name"`
		Shape    []int           `json:"shape"`
		Datatype string          `json:"datatype"`
		Data     json.RawMessage `json:"data"`
		// Parameters are read only in an answer with binary outputs, for their binary_data_size.
		Parameters json.RawMessage `json:"parameters"`
	} `json:"outputs"`
}

// decodeOIP reads an OIP v2 response down to each output's name, shape, datatype and undecoded data, all required.
func decodeOIP(body []byte) (*oipResponse, error) {
	r, _, err := decodeOIPAnswer(body, "")
	return r, err
}

// decodeOIPAnswer is decodeOIP for an answer whose Inference-Header-Content-Length is header: when it is not empty,
// the JSON is the body's first header bytes, and an output may have a parameters.binary_data_size instead of data,
// its data the next bytes after the JSON (binary, one slice per output, nil for a JSON output); the sizes must add
// up to the rest of the body and fit each output's shape.
func decodeOIPAnswer(body []byte, header string) (*oipResponse, [][]byte, error) {
	var rest []byte
	split := header != ""
	if split {
		var err error
		if body, rest, err = oip.Split(body, header); err != nil {
			return nil, nil, err
		}
	}
	var r oipResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, nil, err
	}
	if r.Outputs == nil {
		return nil, nil, fmt.Errorf("no outputs")
	}
	var bin [][]byte
	for i, o := range r.Outputs {
		if o.Name == "" || o.Shape == nil || o.Datatype == "" {
			return nil, nil, fmt.Errorf("outputs[%d]: name, shape, datatype and data are required", i)
		}
		hasData := len(o.Data) != 0 && string(o.Data) != "null"
		size, binary := 0, false
		if split {
			var err error
			if size, binary, err = binaryDataSize(o.Parameters); err != nil {
				return nil, nil, fmt.Errorf("outputs[%d]: %w", i, err)
			}
		}
		switch {
		case binary && hasData:
			return nil, nil, fmt.Errorf("outputs[%d]: both data and parameters.binary_data_size", i)
		case !binary && !hasData:
			return nil, nil, fmt.Errorf("outputs[%d]: name, shape, datatype and data are required", i)
		case !binary:
			continue
		case size > len(rest):
			return nil, nil, fmt.Errorf("outputs[%d]: binary_data_size %d, %d bytes left", i, size, len(rest))
		}
		if err := checkBinarySize(strings.ToUpper(o.Datatype), o.Shape, size); err != nil {
			return nil, nil, fmt.Errorf("outputs[%d]: %w", i, err)
		}
		if bin == nil {
			bin = make([][]byte, len(r.Outputs))
		}
		bin[i], rest = rest[:size], rest[size:]
	}
	if len(rest) != 0 {
		return nil, nil, fmt.Errorf("%d bytes after the binary outputs", len(rest))
	}
	return &r, bin, nil
}

// parseOIP reads the outputs of an OIP v2 response, whose Inference-Header-Content-Length is header.
func parseOIP(body []byte, header string) ([]tensor, error) {
	r, bin, err := decodeOIPAnswer(body, header)
	if err != nil {
		return nil, err
	}
	ts := make([]tensor, len(r.Outputs))
	seen := map[string]bool{}
	for i, o := range r.Outputs {
		if seen[o.Name] {
			return nil, fmt.Errorf("output %q twice", o.Name)
		}
		seen[o.Name] = true
		t := tensor{name: o.Name, datatype: strings.ToUpper(o.Datatype), shape: o.Shape}
		if bin != nil && bin[i] != nil {
			if err := t.fillBinary(bin[i]); err != nil {
				return nil, fmt.Errorf("output %q: %w", o.Name, err)
			}
			ts[i] = t
			continue
		}
		if err := t.fill(o.Data, nil); err != nil {
			return nil, fmt.Errorf("output %q: %w", o.Name, err)
		}
		ts[i] = t
	}
	return ts, nil
}

// decodeKServe reads the undecoded predictions of a KServe v1 response.
func decodeKServe(body []byte) (json.RawMessage, error) {
	var r struct {
		Predictions json.RawMessage `json:"predictions"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	if r.Predictions == nil || string(r.Predictions) == "null" {
		return nil, fmt.Errorf("no predictions")
	}
	return r.Predictions, nil
}

// parseKServe reads the predictions of a KServe v1 response as one tensor whose shape is the nesting of its lists;
// KServe v1 has no binary data, header is not read.
func parseKServe(body []byte, _ string) ([]tensor, error) {
	predictions, err := decodeKServe(body)
	if err != nil {
		return nil, err
	}
	t := tensor{name: "predictions"}
	var shape []int
	if err := t.fill(predictions, &shape); err != nil {
		return nil, err
	}
	t.shape = shape
	return []tensor{t}, nil
}

// fill decodes data (a value or nested lists of numbers, booleans, strings or objects) into t's values in row-major
// order. When shape is not nil it receives the nesting of the lists, which must be rectangular.
func (t *tensor) fill(data json.RawMessage, shape *[]int) error {
	if len(data) == 0 {
		return fmt.Errorf("no data")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	t.integer = true
	if shape != nil {
		*shape = nil
		for x := v; ; {
			l, ok := x.([]any)
			if !ok {
				break
			}
			*shape = append(*shape, len(l))
			if len(l) == 0 {
				break
			}
			x = l[0]
		}
	}
	return t.walk(v, 0, shape)
}

// maxNesting caps how deeply lists may nest in a response.
const maxNesting = 32

func (t *tensor) walk(v any, depth int, shape *[]int) error {
	if depth > maxNesting {
		return fmt.Errorf("lists nested deeper than %d", maxNesting)
	}
	switch x := v.(type) {
	case []any:
		if shape != nil && (depth >= len(*shape) || len(x) != (*shape)[depth]) {
			return fmt.Errorf("ragged lists")
		}
		for _, e := range x {
			if err := t.walk(e, depth+1, shape); err != nil {
				return err
			}
		}
		return nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return fmt.Errorf("number %s: %w", x, err)
		}
		t.integer = t.integer && f == math.Trunc(f)
		t.nums = append(t.nums, f)
	case bool:
		f := 0.0
		if x {
			f = 1
		}
		t.nums = append(t.nums, f)
	case string:
		t.strs = append(t.strs, x)
	case nil:
		t.strs = append(t.strs, "null")
	default: // an object (KServe predictions may be dictionaries): compared as canonical JSON
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		t.strs = append(t.strs, string(b))
	}
	if shape != nil && depth != len(*shape) {
		return fmt.Errorf("ragged lists")
	}
	if len(t.nums) > 0 && len(t.strs) > 0 {
		return fmt.Errorf("mixes numbers and strings")
	}
	return nil
}
