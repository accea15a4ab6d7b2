//go:build cgo

package inference

import (
	"encoding/binary"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/x448/float16"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/marina-dev/marina/internal/model"
)

func initialize(lib string) error {
	hint := "install it with `marina runtime install` (or `bash hack/onnxruntime.sh` in marina's source tree), or set ONNXRUNTIME_LIB"
	if _, err := os.Stat(lib); err != nil {
		return fmt.Errorf("%w: %s not found: %s", ErrNoRuntime, lib, hint)
	}
	ort.SetSharedLibraryPath(lib)
	// ORT's default logger writes to stderr, with ANSI colours, bypassing marina's logger, and the Go binding offers
	// no callback to take its lines. Every error it would log comes back to us as a returned status, which marina
	// reports through its own logger: only a fatal error, which ends the process anyway, is left to ORT.
	if err := ort.InitializeEnvironment(ort.WithLogLevelFatal()); err != nil {
		return fmt.Errorf("%w: loading %s: %v: %s", ErrNoRuntime, lib, err, hint)
	}
	return nil
}

func runtimeVersion() string { return ort.GetVersion() }

// open creates the ONNX Runtime session of a model file's content.
func open(path string, data []byte) (*Session, error) {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: ONNX Runtime cannot load it: %v", path, model.ErrMalformedONNX, err)
	}
	s := &Session{path: path, inputs: signature(ins), outputs: signature(outs)}
	if len(ins) == 0 || len(outs) == 0 {
		return nil, fmt.Errorf("%s: %w: the graph has %d inputs and %d outputs", path, model.ErrMalformedONNX, len(ins), len(outs))
	}
	if err := carriable(s.inputs, s.outputs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
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
	if err := opts.SetLogSeverityLevel(ort.LoggingLevelFatal); err != nil {
		return nil, fmt.Errorf("%s: session options: %w", path, err)
	}
	e := &ortEngine{outputs: s.outputs}
	e.session, err = ort.NewDynamicAdvancedSessionWithONNXData(data, names(s.inputs), names(e.outputs), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: ONNX Runtime cannot load it: %v", path, model.ErrMalformedONNX, err)
	}
	s.engine = e
	return s, nil
}

// ortEngine runs a model in an ONNX Runtime session.
type ortEngine struct {
	session *ort.DynamicAdvancedSession
	outputs []model.Tensor
}

func (e *ortEngine) run(inputs []Tensor) ([]Tensor, error) {
	values := make([]ort.Value, len(inputs))
	defer destroyAll(values)
	var err error
	for i, t := range inputs {
		if values[i], err = newValue(t); err != nil {
			return nil, fmt.Errorf("input %q: %w", t.Name, err)
		}
	}
	outs := make([]ort.Value, len(e.outputs))
	defer destroyAll(outs)
	for i, o := range e.outputs {
		if outs[i], err = preallocate(o); err != nil {
			return nil, fmt.Errorf("output %q: %w", o.Name, err)
		}
	}
	if err := e.session.Run(values, outs); err != nil {
		return nil, fmt.Errorf("running the model: %s", cleanRuntimeError(err))
	}
	result := make([]Tensor, len(outs))
	for i, v := range outs {
		if result[i], err = fromValue(e.outputs[i].Name, v); err != nil {
			return nil, err
		}
	}
	return result, nil
}

// ansi matches terminal escape sequences: ORT colours some of its messages.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// cleanRuntimeError is an ONNX Runtime error's text without terminal escapes, fit for a log line or a response.
func cleanRuntimeError(err error) string {
	return ansi.ReplaceAllString(err.Error(), "")
}

func (e *ortEngine) destroy() error { return e.session.Destroy() }

func destroyAll(values []ort.Value) {
	for _, v := range values {
		if v != nil {
			_ = v.Destroy()
		}
	}
}

// newValue is t as an ONNX Runtime value. The Go binding refuses shapes without dimensions except in its Scalar
// type, which holds numbers and booleans only.
func newValue(t Tensor) (ort.Value, error) {
	if len(t.Shape) == 0 {
		switch t.DType {
		case Float32:
			return ort.NewScalar(t.Float32[0])
		case Int64:
			return ort.NewScalar(t.Int64[0])
		case Bool:
			return ort.NewScalar(t.Bool[0])
		}
		return nil, fmt.Errorf("%w: a %s scalar cannot be given to ONNX Runtime through its Go binding (float32, int64 and bool scalars can)", ErrUnsupported, t.DType)
	}
	shape := ort.NewShape(t.Shape...)
	switch t.DType {
	case Float16:
		return ort.NewCustomDataTensor(shape, float16Bytes(t.Float32), ort.TensorElementDataTypeFloat16)
	case Int64:
		return ort.NewTensor(shape, t.Int64)
	case Bool:
		return ort.NewTensor(shape, t.Bool)
	case String:
		st, err := ort.NewStringTensor(shape)
		if err != nil {
			return nil, err
		}
		if err := st.SetContents(t.String); err != nil {
			_ = st.Destroy()
			return nil, err
		}
		return st, nil
	}
	return ort.NewTensor(shape, t.Float32)
}

// preallocate is the value an output is written into, or nil to let ONNX Runtime allocate it. The Go binding
// cannot take a scalar or a float16 tensor back from the runtime (it refuses a shape without dimensions and copies
// half of a float16 buffer), so those are allocated here: possible when the model declares their shape.
func preallocate(o model.Tensor) (ort.Value, error) {
	if o.Shape == nil || (len(o.Shape) > 0 && o.DType != Float16) {
		return nil, nil
	}
	if len(o.Shape) == 0 {
		switch o.DType {
		case Float32:
			return ort.NewEmptyScalar[float32]()
		case Int64:
			return ort.NewEmptyScalar[int64]()
		case Bool:
			return ort.NewEmptyScalar[bool]()
		}
		return nil, fmt.Errorf("%w: a %s scalar output cannot be read through ONNX Runtime's Go binding (float32, int64 and bool scalars can)", ErrUnsupported, o.DType)
	}
	n := int64(1)
	for _, d := range o.Shape {
		if d < 0 {
			return nil, fmt.Errorf("%w: a float16 output must have a fixed shape to be read through ONNX Runtime's Go binding, and this one is %s; cast it to float32 in the model", ErrUnsupported, FormatShape(o.Shape))
		}
		n *= d
	}
	return ort.NewCustomDataTensor(ort.NewShape(o.Shape...), make([]byte, 2*n), ort.TensorElementDataTypeFloat16)
}

func fromValue(name string, v ort.Value) (Tensor, error) {
	t := Tensor{Name: name}
	if v != nil {
		t.Shape = slices.Clone(v.GetShape())
		if t.Shape == nil {
			t.Shape = []int64{}
		}
	}
	switch x := v.(type) {
	case *ort.Tensor[float32]:
		t.DType, t.Float32 = Float32, slices.Clone(x.GetData())
	case *ort.Tensor[int64]:
		t.DType, t.Int64 = Int64, slices.Clone(x.GetData())
	case *ort.Tensor[bool]:
		t.DType, t.Bool = Bool, slices.Clone(x.GetData())
	case *ort.Scalar[float32]:
		t.DType, t.Float32 = Float32, []float32{x.GetData()}
	case *ort.Scalar[int64]:
		t.DType, t.Int64 = Int64, []int64{x.GetData()}
	case *ort.Scalar[bool]:
		t.DType, t.Bool = Bool, []bool{x.GetData()}
	case *ort.CustomDataTensor:
		if x.DataType() != ort.TensorElementDataTypeFloat16 {
			return Tensor{}, fmt.Errorf("output %q: %w: %s tensors (%s)", name, ErrUnsupported, dtypeName(ort.TensorElementDataType(x.DataType())), DTypes)
		}
		t.DType, t.Float32 = Float16, float16Values(x.GetData())
	case *ort.StringTensor:
		s, err := x.GetContents()
		if err != nil {
			return Tensor{}, fmt.Errorf("output %q: reading strings: %w", name, err)
		}
		t.DType, t.String = String, s
	case nil:
		return Tensor{}, fmt.Errorf("output %q: ONNX Runtime returned nothing", name)
	default:
		return Tensor{}, fmt.Errorf("output %q: %w: %s values (%s tensors)", name, ErrUnsupported, v.GetONNXType(), DTypes)
	}
	if int64(t.Len()) != product(t.Shape) {
		return Tensor{}, fmt.Errorf("output %q: ONNX Runtime returned %d values for shape %v", name, t.Len(), FormatShape(t.Shape))
	}
	return t, nil
}

// carriable refuses a model whose inputs or outputs a Tensor cannot hold, naming the first and what to do.
func carriable(inputs, outputs []model.Tensor) error {
	for _, side := range []struct {
		kind string
		ts   []model.Tensor
	}{{"input", inputs}, {"output", outputs}} {
		for _, t := range side.ts {
			switch {
			case t.DType == "sequence" || t.DType == "map":
				return fmt.Errorf("%w: %s %q is a %s (a scikit-learn classifier's ZipMap writes a sequence of maps): "+
					"marina serves tensors only; export the model without it (skl2onnx: options={'zipmap': False})", ErrUnsupported, side.kind, t.Name, t.DType)
			case !Supported(t.DType):
				return fmt.Errorf("%w: %s %q is %s: marina serves %s tensors; cast it in the model", ErrUnsupported, side.kind, t.Name, t.DType, DTypes)
			}
		}
	}
	return nil
}

// product is the number of elements of a shape; 1 for a scalar.
func product(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

func float16Bytes(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint16(b[2*i:], float16.Fromfloat32(f).Bits())
	}
	return b
}

func float16Values(b []byte) []float32 {
	v := make([]float32, len(b)/2)
	for i := range v {
		v[i] = float16.Frombits(binary.LittleEndian.Uint16(b[2*i:])).Float32()
	}
	return v
}

func signature(infos []ort.InputOutputInfo) []model.Tensor {
	out := make([]model.Tensor, len(infos))
	for i, info := range infos {
		out[i].Name = info.Name
		switch info.OrtValueType {
		case ort.ONNXTypeTensor:
		case ort.ONNXTypeSequence, ort.ONNXTypeMap, ort.ONNXTypeOptional:
			// Named as model.Inspect names them.
			out[i].DType = strings.TrimPrefix(strings.ToLower(info.OrtValueType.String()), "onnx_type_")
			continue
		default:
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
