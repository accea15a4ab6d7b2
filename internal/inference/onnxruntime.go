//go:build cgo

package inference

import (
	"fmt"
	"os"
	"slices"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/marina-dev/marina/internal/model"
)

func initialize(lib string) error {
	hint := "install it with `marina runtime install` (or `bash hack/onnxruntime.sh` in marina's source tree), or set ONNXRUNTIME_LIB"
	if _, err := os.Stat(lib); err != nil {
		return fmt.Errorf("%w: %s not found: %s", ErrNoRuntime, lib, hint)
	}
	ort.SetSharedLibraryPath(lib)
	// Warnings from ORT's default logger would go to stderr on every session; errors are returned to us anyway.
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
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
	e := &ortEngine{outputs: names(s.outputs)}
	e.session, err = ort.NewDynamicAdvancedSessionWithONNXData(data, names(s.inputs), e.outputs, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: ONNX Runtime cannot load it: %v", path, model.ErrMalformedONNX, err)
	}
	s.engine = e
	return s, nil
}

// ortEngine runs a model in an ONNX Runtime session.
type ortEngine struct {
	session *ort.DynamicAdvancedSession
	outputs []string
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
	if err := e.session.Run(values, outs); err != nil {
		return nil, fmt.Errorf("running the model: %w", err)
	}
	result := make([]Tensor, len(outs))
	for i, v := range outs {
		if result[i], err = fromValue(e.outputs[i], v); err != nil {
			return nil, err
		}
	}
	return result, nil
}

func (e *ortEngine) destroy() error { return e.session.Destroy() }

func destroyAll(values []ort.Value) {
	for _, v := range values {
		if v != nil {
			_ = v.Destroy()
		}
	}
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
