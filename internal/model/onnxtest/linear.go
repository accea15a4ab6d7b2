package onnxtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/marina-dev/marina/internal/model/onnxpb"
)

// Defaults of Linear: the versions ONNX Runtime 1.30 is verified to run (see NOTES.md).
const (
	DefaultIRVersion = 8
	DefaultOpset     = 17
	DefaultProducer  = "marina-genmodels"
)

// Linear describes a softmax classifier y = Softmax(Flatten(x)·W + B) as an ONNX graph:
// [Flatten →] MatMul → Add → Softmax, with a symbolic batch dimension on the input and the output.
type Linear struct {
	// Input and Output name the graph's single input and output.
	Input, Output string
	// InputShape is one example's shape (the batch dimension excluded); more than one dimension adds a Flatten.
	InputShape []int64
	// Weights is W, row-major [features][classes], features being the product of InputShape.
	Weights []float32
	// Bias is B, one value per class.
	Bias []float32
	// InitializersAsInputs also lists W and B in graph.input, as IR version 3 and older required.
	InitializersAsInputs bool
	// IRVersion, Opset and Producer default to DefaultIRVersion, DefaultOpset and DefaultProducer.
	IRVersion, Opset int64
	Producer         string
}

// Model builds the ModelProto.
func (l Linear) Model() (*onnxpb.ModelProto, error) {
	features := int64(1)
	for _, d := range l.InputShape {
		if d <= 0 {
			return nil, fmt.Errorf("input shape %v: dimensions must be positive", l.InputShape)
		}
		features *= d
	}
	classes := int64(len(l.Bias))
	switch {
	case l.Input == "" || l.Output == "":
		return nil, errors.New("input and output need names")
	case len(l.InputShape) == 0:
		return nil, errors.New("input shape is empty")
	case classes == 0:
		return nil, errors.New("no classes: bias is empty")
	case int64(len(l.Weights)) != features*classes:
		return nil, fmt.Errorf("weights have %d values, want features×classes = %d×%d", len(l.Weights), features, classes)
	}
	ir, opset, producer := l.IRVersion, l.Opset, l.Producer
	if ir == 0 {
		ir = DefaultIRVersion
	}
	if opset == 0 {
		opset = DefaultOpset
	}
	if producer == "" {
		producer = DefaultProducer
	}

	var nodes []*onnxpb.NodeProto
	x := l.Input
	if len(l.InputShape) > 1 {
		nodes = append(nodes, &onnxpb.NodeProto{
			Name: "flatten", OpType: "Flatten", Input: []string{x}, Output: []string{"flat"},
			Attribute: []*onnxpb.AttributeProto{{Name: "axis", Type: onnxpb.AttributeProto_INT, I: 1}},
		})
		x = "flat"
	}
	nodes = append(nodes,
		&onnxpb.NodeProto{Name: "matmul", OpType: "MatMul", Input: []string{x, "W"}, Output: []string{"logits_raw"}},
		&onnxpb.NodeProto{Name: "add", OpType: "Add", Input: []string{"logits_raw", "B"}, Output: []string{"logits_biased"}},
		&onnxpb.NodeProto{
			Name: "softmax", OpType: "Softmax", Input: []string{"logits_biased"}, Output: []string{l.Output},
			Attribute: []*onnxpb.AttributeProto{{Name: "axis", Type: onnxpb.AttributeProto_INT, I: -1}},
		},
	)
	inputs := []*onnxpb.ValueInfoProto{ValueInfo(l.Input, onnxpb.TensorProto_FLOAT, append([]int64{-1}, l.InputShape...)...)}
	if l.InitializersAsInputs {
		inputs = append(inputs,
			ValueInfo("W", onnxpb.TensorProto_FLOAT, features, classes),
			ValueInfo("B", onnxpb.TensorProto_FLOAT, classes))
	}
	return &onnxpb.ModelProto{
		IrVersion:    ir,
		ProducerName: producer,
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: "", Version: opset}},
		Graph: &onnxpb.GraphProto{
			Name: "linear_softmax",
			Node: nodes,
			Initializer: []*onnxpb.TensorProto{
				Float32Tensor("W", []int64{features, classes}, l.Weights),
				Float32Tensor("B", []int64{classes}, l.Bias),
			},
			Input:  inputs,
			Output: []*onnxpb.ValueInfoProto{ValueInfo(l.Output, onnxpb.TensorProto_FLOAT, -1, classes)},
		},
	}, nil
}

// Bytes builds and marshals the model.
func (l Linear) Bytes() ([]byte, error) {
	m, err := l.Model()
	if err != nil {
		return nil, err
	}
	return Marshal(m)
}

// Marshal serializes a model deterministically (fields in number order, as ONNX exporters write them).
func Marshal(m *onnxpb.ModelProto) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// ValueInfo describes a tensor value; a negative dimension is symbolic, named "batch" when it is the first.
func ValueInfo(name string, dtype onnxpb.TensorProto_DataType, shape ...int64) *onnxpb.ValueInfoProto {
	dims := make([]*onnxpb.TensorShapeProto_Dimension, len(shape))
	for i, d := range shape {
		switch {
		case d >= 0:
			dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
		case i == 0:
			dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}
		default:
			dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: fmt.Sprintf("d%d", i)}}
		}
	}
	return &onnxpb.ValueInfoProto{
		Name: name,
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: int32(dtype),
			Shape:    &onnxpb.TensorShapeProto{Dim: dims},
		}}},
	}
}

// Float32Tensor is an initializer holding values as little-endian float32 raw data, the layout exporters use.
func Float32Tensor(name string, dims []int64, values []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnxpb.TensorProto{Name: name, Dims: dims, DataType: int32(onnxpb.TensorProto_FLOAT), RawData: raw}
}

// Predict evaluates the classifier on one example, in float32 as ONNX Runtime does, and returns the softmax
// probabilities. It lets the generator and tests compute expected accuracies without a runtime.
func (l Linear) Predict(x []float32) []float32 {
	classes := len(l.Bias)
	z := make([]float32, classes)
	for c := range classes {
		var s float32
		for f, xf := range x {
			s += xf * l.Weights[f*classes+c]
		}
		z[c] = s + l.Bias[c]
	}
	maxZ := z[0]
	for _, v := range z[1:] {
		maxZ = max(maxZ, v)
	}
	var sum float32
	for c := range z {
		z[c] = float32(math.Exp(float64(z[c] - maxZ)))
		sum += z[c]
	}
	for c := range z {
		z[c] /= sum
	}
	return z
}

// Argmax returns the index of the largest value, the first one on ties.
func Argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}
