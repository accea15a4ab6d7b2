package inference

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/marina-dev/marina/internal/model"
)

// ErrBadInput means the tensors given to Run do not match the model's inputs (names, dtypes or shapes).
var ErrBadInput = errors.New("bad input")

// ErrUnsupported means the model needs a value marina cannot carry: a sequence or map, or a dtype outside DTypes.
var ErrUnsupported = errors.New("not supported")

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("inference session is closed")

// Element types a Tensor can hold, named as the model metadata names them.
const (
	Float32 = "float32"
	Float16 = "float16"
	Int64   = "int64"
	Bool    = "bool"
	String  = "string"
)

// DTypes lists the element types a Tensor can hold, for messages.
const DTypes = "float32, float16, int64, bool or string"

// Supported reports whether a Tensor can hold values of dtype.
func Supported(dtype string) bool {
	switch dtype {
	case Float32, Float16, Int64, Bool, String:
		return true
	}
	return false
}

// Tensor is one named input or output value: a row-major flat buffer and its shape (empty for a scalar). The
// buffer DType selects holds the data, and no other: Float32 for float32 and float16 (converted at the runtime's
// boundary), Int64, Bool or String.
type Tensor struct {
	Name    string
	DType   string
	Shape   []int64
	Float32 []float32
	Int64   []int64
	Bool    []bool
	String  []string
}

// Len is the number of elements held in the buffer DType selects.
func (t Tensor) Len() int {
	switch t.DType {
	case Int64:
		return len(t.Int64)
	case Bool:
		return len(t.Bool)
	case String:
		return len(t.String)
	}
	return len(t.Float32)
}

// buffers is how many of the four buffers hold something.
func (t Tensor) buffers() int {
	n := 0
	for _, l := range []int{len(t.Float32), len(t.Int64), len(t.Bool), len(t.String)} {
		if l > 0 {
			n++
		}
	}
	return n
}

// Session is one model loaded in ONNX Runtime. Run may be called from many goroutines at once.
type Session struct {
	path    string
	inputs  []model.Tensor
	outputs []model.Tensor

	mu     sync.RWMutex // Run holds it for reading, Close for writing: no run sees a destroyed session
	engine engine
	closed bool
}

// engine is the model as loaded in the runtime. Inputs reach it checked and in the model's order; it returns every
// output in Outputs order.
type engine interface {
	run(inputs []Tensor) ([]Tensor, error)
	destroy() error
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
	return open(path, data)
}

// LoadBytes is Load of a model already read, data, named path in messages: ONNX Runtime parses these bytes and
// never opens the file, so a caller that checked data's digest or signature runs exactly what it checked.
func LoadBytes(path string, data []byte) (*Session, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	return open(path, data)
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
	out, err := s.engine.run(ordered)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	return out, nil
}

// Close releases the session; it waits for runs in progress. Calling it again does nothing.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.engine.destroy()
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

// CheckTensor validates a value against a declared tensor: dtype, rank (0 for a scalar), fixed dimensions, and a
// buffer holding exactly as many elements as the shape says. Errors wrap ErrBadInput.
func CheckTensor(decl model.Tensor, t Tensor) error {
	switch {
	case !Supported(t.DType):
		return fmt.Errorf("%w: input %q: dtype %q is not supported (%s)", ErrBadInput, t.Name, t.DType, DTypes)
	case t.DType != decl.DType:
		return fmt.Errorf("%w: input %q: dtype %s, the model wants %s", ErrBadInput, t.Name, t.DType, decl.DType)
	case t.buffers() > 1 || (t.buffers() == 1 && t.Len() == 0):
		return fmt.Errorf("%w: input %q: data does not match dtype %s", ErrBadInput, t.Name, t.DType)
	case decl.Shape != nil && len(t.Shape) != len(decl.Shape):
		return fmt.Errorf("%w: input %q: shape %v has rank %d, the model wants %v (rank %d)", ErrBadInput, t.Name, FormatShape(t.Shape), len(t.Shape), FormatShape(decl.Shape), len(decl.Shape))
	}
	n := int64(1)
	for i, d := range t.Shape {
		if d < 1 {
			return fmt.Errorf("%w: input %q: shape %v: dimension %d is %d, want at least 1", ErrBadInput, t.Name, t.Shape, i, d)
		}
		if decl.Shape != nil && decl.Shape[i] >= 0 && decl.Shape[i] != d {
			return fmt.Errorf("%w: input %q: shape %v, the model wants %v (dimension %d must be %d)", ErrBadInput, t.Name, t.Shape, FormatShape(decl.Shape), i, decl.Shape[i])
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

// FormatShape writes a shape with ? for a dynamic dimension; a scalar's is [].
func FormatShape(s []int64) string {
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
