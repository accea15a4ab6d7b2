package inference

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/marina-dev/marina/internal/model"
)

// ErrBadInput means the tensors given to Run do not match the model's inputs (names, dtypes or shapes).
var ErrBadInput = errors.New("bad input")

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("inference session is closed")

// Element types a Tensor can hold.
const (
	Float32 = "float32"
	Int64   = "int64"
)

// Tensor is one named input or output value: a row-major flat buffer and its shape. Exactly one of Float32 and
// Int64 holds the data, as DType says.
type Tensor struct {
	Name    string
	DType   string // "float32" | "int64"
	Shape   []int64
	Float32 []float32
	Int64   []int64
}

// Len is the number of elements held in the buffer DType selects.
func (t Tensor) Len() int {
	if t.DType == Int64 {
		return len(t.Int64)
	}
	return len(t.Float32)
}

// Session is one model loaded in ONNX Runtime. Run may be called from many goroutines at once.
type Session struct {
	path    string
	inputs  []model.Tensor
	outputs []model.Tensor

	mu     sync.RWMutex // Run holds it for reading, Close for writing: no run sees a destroyed session
	ort    *ort.DynamicAdvancedSession
	closed bool
}

// Load reads an ONNX model file into a new session. It calls Init. Errors name the file; a file ONNX Runtime
// cannot parse gives an error wrapping model.ErrMalformedONNX.
func Load(path string) (*Session, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading model: %w", err)
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: ONNX Runtime cannot load it: %v", path, model.ErrMalformedONNX, err)
	}
	s := &Session{path: path, inputs: signature(ins), outputs: signature(outs)}
	if len(ins) == 0 || len(outs) == 0 {
		return nil, fmt.Errorf("%s: %w: the graph has %d inputs and %d outputs", path, model.ErrMalformedONNX, len(ins), len(outs))
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("%s: session options: %w", path, err)
	}
	defer func() { _ = opts.Destroy() }()
	// Concurrency comes from running requests side by side; ORT's own thread pools would only compete with them
	// for the same cores (and spin while idle).
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("%s: session options: %w", path, err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("%s: session options: %w", path, err)
	}
	s.ort, err = ort.NewDynamicAdvancedSessionWithONNXData(data, names(s.inputs), names(s.outputs), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: ONNX Runtime cannot load it: %v", path, model.ErrMalformedONNX, err)
	}
	return s, nil
}

// Path is the model file the session was loaded from.
func (s *Session) Path() string { return s.path }

// Inputs is the model's input signature as ONNX Runtime reports it; -1 marks a dynamic dimension.
func (s *Session) Inputs() []model.Tensor { return cloneSignature(s.inputs) }

// Outputs is the model's output signature, in the order Run returns outputs.
func (s *Session) Outputs() []model.Tensor { return cloneSignature(s.outputs) }

// Run checks inputs against Inputs (each input exactly once, in any order; errors wrap ErrBadInput), runs the
// model and returns every output in Outputs order, with the shapes the model produced.
func (s *Session) Run(inputs []Tensor) ([]Tensor, error) {
	ordered, err := s.check(inputs)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	values := make([]ort.Value, len(ordered))
	defer func() {
		for _, v := range values {
			if v != nil {
				_ = v.Destroy()
			}
		}
	}()
	for i, t := range ordered {
		if values[i], err = newValue(t); err != nil {
			return nil, fmt.Errorf("%s: input %q: %w", s.path, t.Name, err)
		}
	}
	outs := make([]ort.Value, len(s.outputs))
	defer func() {
		for _, v := range outs {
			if v != nil {
				_ = v.Destroy()
			}
		}
	}()
	if err := s.ort.Run(values, outs); err != nil {
		return nil, fmt.Errorf("%s: running the model: %w", s.path, err)
	}
	result := make([]Tensor, len(outs))
	for i, v := range outs {
		if result[i], err = fromValue(s.outputs[i].Name, v); err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
	}
	return result, nil
}

// Close releases the session; it waits for runs in progress. Calling it again does nothing.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.ort.Destroy()
}

// check orders inputs as the model declares them and validates each against its declaration.
func (s *Session) check(inputs []Tensor) ([]Tensor, error) {
	ordered := make([]Tensor, len(s.inputs))
	seen := make([]bool, len(s.inputs))
	for _, t := range inputs {
		i := slices.IndexFunc(s.inputs, func(d model.Tensor) bool { return d.Name == t.Name })
		if i < 0 {
			return nil, fmt.Errorf("%w: unknown input %q (the model's inputs: %s)", ErrBadInput, t.Name, strings.Join(names(s.inputs), ", "))
		}
		if seen[i] {
			return nil, fmt.Errorf("%w: input %q given twice", ErrBadInput, t.Name)
		}
		seen[i] = true
		if err := CheckTensor(s.inputs[i], t); err != nil {
			return nil, err
		}
		ordered[i] = t
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("%w: missing input %q", ErrBadInput, s.inputs[i].Name)
		}
	}
	return ordered, nil
}

// CheckTensor validates a value against a declared tensor: dtype, rank, fixed dimensions, and a buffer holding
// exactly as many elements as the shape says. Errors wrap ErrBadInput.
func CheckTensor(decl model.Tensor, t Tensor) error {
	switch {
	case t.DType != Float32 && t.DType != Int64:
		return fmt.Errorf("%w: input %q: dtype %q is not supported (float32 or int64)", ErrBadInput, t.Name, t.DType)
	case t.DType != decl.DType:
		return fmt.Errorf("%w: input %q: dtype %s, the model wants %s", ErrBadInput, t.Name, t.DType, decl.DType)
	case t.DType == Float32 && t.Int64 != nil, t.DType == Int64 && t.Float32 != nil:
		return fmt.Errorf("%w: input %q: data does not match dtype %s", ErrBadInput, t.Name, t.DType)
	case decl.Shape != nil && len(t.Shape) != len(decl.Shape):
		return fmt.Errorf("%w: input %q: shape %v has rank %d, the model wants %v (rank %d)", ErrBadInput, t.Name, t.Shape, len(t.Shape), fmtShape(decl.Shape), len(decl.Shape))
	case len(t.Shape) == 0:
		return fmt.Errorf("%w: input %q: scalar inputs are not supported", ErrBadInput, t.Name)
	}
	n := int64(1)
	for i, d := range t.Shape {
		if d < 1 {
			return fmt.Errorf("%w: input %q: shape %v: dimension %d is %d, want at least 1", ErrBadInput, t.Name, t.Shape, i, d)
		}
		if decl.Shape != nil && decl.Shape[i] >= 0 && decl.Shape[i] != d {
			return fmt.Errorf("%w: input %q: shape %v, the model wants %v (dimension %d must be %d)", ErrBadInput, t.Name, t.Shape, fmtShape(decl.Shape), i, decl.Shape[i])
		}
		// Stop before the product can overflow: it is already more than the buffer holds.
		if n > int64(t.Len())/d+1 {
			return fmt.Errorf("%w: input %q: shape %v needs more than the %d values given", ErrBadInput, t.Name, t.Shape, t.Len())
		}
		n *= d
	}
	if n != int64(t.Len()) {
		return fmt.Errorf("%w: input %q: shape %v needs %d values, got %d", ErrBadInput, t.Name, t.Shape, n, t.Len())
	}
	return nil
}

func newValue(t Tensor) (ort.Value, error) {
	shape := ort.NewShape(t.Shape...)
	if t.DType == Int64 {
		return ort.NewTensor(shape, t.Int64)
	}
	return ort.NewTensor(shape, t.Float32)
}

func fromValue(name string, v ort.Value) (Tensor, error) {
	switch x := v.(type) {
	case *ort.Tensor[float32]:
		return Tensor{Name: name, DType: Float32, Shape: x.GetShape(), Float32: slices.Clone(x.GetData())}, nil
	case *ort.Tensor[int64]:
		return Tensor{Name: name, DType: Int64, Shape: x.GetShape(), Int64: slices.Clone(x.GetData())}, nil
	case nil:
		return Tensor{}, fmt.Errorf("output %q: ONNX Runtime returned nothing", name)
	default:
		return Tensor{}, fmt.Errorf("output %q: %s values are not supported (float32 or int64 tensors)", name, v.GetONNXType())
	}
}

func signature(infos []ort.InputOutputInfo) []model.Tensor {
	out := make([]model.Tensor, len(infos))
	for i, info := range infos {
		out[i].Name = info.Name
		if info.OrtValueType != ort.ONNXTypeTensor {
			out[i].DType = strings.ToLower(info.OrtValueType.String())
			continue
		}
		out[i].DType = dtypeName(info.DataType)
		out[i].Shape = make([]int64, len(info.Dimensions))
		for j, d := range info.Dimensions {
			out[i].Shape[j] = max(d, -1)
		}
	}
	return out
}

func dtypeName(t ort.TensorElementDataType) string {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return Float32
	case ort.TensorElementDataTypeInt64:
		return Int64
	case ort.TensorElementDataTypeDouble:
		return "float64"
	case ort.TensorElementDataTypeInt32:
		return "int32"
	case ort.TensorElementDataTypeInt8:
		return "int8"
	case ort.TensorElementDataTypeUint8:
		return "uint8"
	case ort.TensorElementDataTypeBool:
		return "bool"
	case ort.TensorElementDataTypeString:
		return "string"
	case ort.TensorElementDataTypeFloat16:
		return "float16"
	}
	return fmt.Sprintf("unknown(%d)", int(t))
}

func names(ts []model.Tensor) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

func cloneSignature(ts []model.Tensor) []model.Tensor {
	out := make([]model.Tensor, len(ts))
	for i, t := range ts {
		out[i] = model.Tensor{Name: t.Name, DType: t.DType, Shape: slices.Clone(t.Shape)}
	}
	return out
}

func fmtShape(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}
