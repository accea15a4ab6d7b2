package onnxtest

import (
	"github.com/marina-dev/marina/internal/model/onnxpb"
)

// The models below bring, each in a few nodes, what real models exported by PyTorch, tf2onnx and skl2onnx bring
// and a linear classifier does not: scalars, float16, bool and string tensors, the ai.onnx.ml opset, a sequence of
// maps, names that are JSON or carry "::".

// JSONInputName is the name of Scalars' input: exporters keep whatever the framework called a tensor.
const JSONInputName = `{"feature": "x", "unit": "m"}`

// Scalars computes "total" = ReduceSum(x · scale) over every element, a rank-0 float32, and "count" = the number
// of rows (an int64 scalar) from x [batch, 3] (named JSONInputName) and a rank-0 float32 "scale".
func Scalars() ([]byte, error) {
	return Marshal(graphModel(
		&onnxpb.GraphProto{
			Name: "scalars",
			Node: []*onnxpb.NodeProto{
				{OpType: "Mul", Input: []string{JSONInputName, "scale"}, Output: []string{"scaled"}},
				{OpType: "ReduceSum", Input: []string{"scaled"}, Output: []string{"total"}, Attribute: []*onnxpb.AttributeProto{intAttr("keepdims", 0)}},
				{OpType: "Shape", Input: []string{JSONInputName}, Output: []string{"shape"}},
				{OpType: "Gather", Input: []string{"shape", "zero"}, Output: []string{"count"}, Attribute: []*onnxpb.AttributeProto{intAttr("axis", 0)}},
			},
			Initializer: []*onnxpb.TensorProto{{Name: "zero", DataType: int32(onnxpb.TensorProto_INT64), Int64Data: []int64{0}}},
			Input:       []*onnxpb.ValueInfoProto{ValueInfo(JSONInputName, onnxpb.TensorProto_FLOAT, -1, 3), ValueInfo("scale", onnxpb.TensorProto_FLOAT)},
			Output:      []*onnxpb.ValueInfoProto{ValueInfo("total", onnxpb.TensorProto_FLOAT), ValueInfo("count", onnxpb.TensorProto_INT64)},
		}))
}

// Masked takes a bool "mask" [batch, 3], float32 "a" and "b" [batch, 3] and a float16 "half" [2, 2]; it returns
// "picked" = Where(mask, a, b), "inverted" = Not(mask) (bool) and "doubled" = 2 · half, float16 of fixed shape.
func Masked() ([]byte, error) {
	return Marshal(graphModel(
		&onnxpb.GraphProto{
			Name: "masked",
			Node: []*onnxpb.NodeProto{
				{OpType: "Where", Input: []string{"mask", "a", "b"}, Output: []string{"picked"}},
				{OpType: "Not", Input: []string{"mask"}, Output: []string{"inverted"}},
				{OpType: "Cast", Input: []string{"half"}, Output: []string{"half32"}, Attribute: []*onnxpb.AttributeProto{intAttr("to", int64(onnxpb.TensorProto_FLOAT))}},
				{OpType: "Add", Input: []string{"half32", "half32"}, Output: []string{"doubled32"}},
				{OpType: "Cast", Input: []string{"doubled32"}, Output: []string{"doubled"}, Attribute: []*onnxpb.AttributeProto{intAttr("to", int64(onnxpb.TensorProto_FLOAT16))}},
			},
			Input: []*onnxpb.ValueInfoProto{
				ValueInfo("mask", onnxpb.TensorProto_BOOL, -1, 3), ValueInfo("a", onnxpb.TensorProto_FLOAT, -1, 3),
				ValueInfo("b", onnxpb.TensorProto_FLOAT, -1, 3), ValueInfo("half", onnxpb.TensorProto_FLOAT16, 2, 2),
			},
			Output: []*onnxpb.ValueInfoProto{
				ValueInfo("picked", onnxpb.TensorProto_FLOAT, -1, 3), ValueInfo("inverted", onnxpb.TensorProto_BOOL, -1, 3),
				ValueInfo("doubled", onnxpb.TensorProto_FLOAT16, 2, 2),
			},
		}))
}

// HalfDynamic passes a float16 "x" [batch, 2] through Identity: a float16 output whose shape only the run knows.
func HalfDynamic() ([]byte, error) {
	return Marshal(graphModel(&onnxpb.GraphProto{
		Name:   "half_dynamic",
		Node:   []*onnxpb.NodeProto{{OpType: "Identity", Input: []string{"x"}, Output: []string{"y"}}},
		Input:  []*onnxpb.ValueInfoProto{ValueInfo("x", onnxpb.TensorProto_FLOAT16, -1, 2)},
		Output: []*onnxpb.ValueInfoProto{ValueInfo("y", onnxpb.TensorProto_FLOAT16, -1, 2)},
	}))
}

// Labels uses the ai.onnx.ml opset: LabelEncoder maps int64 "class" [batch] to string "name" ("cat", "dog", else
// "unknown") and string "word" [batch] to int64 "id" ("cat" 0, "dog" 1, else -1).
func Labels() ([]byte, error) {
	m := graphModel(&onnxpb.GraphProto{
		Name: "labels",
		Node: []*onnxpb.NodeProto{
			{OpType: "LabelEncoder", Domain: "ai.onnx.ml", Input: []string{"class"}, Output: []string{"name"}, Attribute: []*onnxpb.AttributeProto{
				intsAttr("keys_int64s", 0, 1), stringsAttr("values_strings", "cat", "dog"), stringAttr("default_string", "unknown"),
			}},
			{OpType: "LabelEncoder", Domain: "ai.onnx.ml", Input: []string{"word"}, Output: []string{"id"}, Attribute: []*onnxpb.AttributeProto{
				stringsAttr("keys_strings", "cat", "dog"), intsAttr("values_int64s", 0, 1), intAttr("default_int64", -1),
			}},
		},
		Input:  []*onnxpb.ValueInfoProto{ValueInfo("class", onnxpb.TensorProto_INT64, -1), ValueInfo("word", onnxpb.TensorProto_STRING, -1)},
		Output: []*onnxpb.ValueInfoProto{ValueInfo("name", onnxpb.TensorProto_STRING, -1), ValueInfo("id", onnxpb.TensorProto_INT64, -1)},
	})
	m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: "ai.onnx.ml", Version: 2})
	return Marshal(m)
}

// ZipMap is the tail of a scikit-learn classifier as skl2onnx exports it by default: float32 "probabilities"
// [batch, 2] → ZipMap → "output_probability", a sequence of maps from class to probability.
func ZipMap() ([]byte, error) {
	m := graphModel(&onnxpb.GraphProto{
		Name: "zipmap",
		Node: []*onnxpb.NodeProto{{OpType: "ZipMap", Domain: "ai.onnx.ml", Input: []string{"probabilities"}, Output: []string{"output_probability"},
			Attribute: []*onnxpb.AttributeProto{intsAttr("classlabels_int64s", 0, 1)}}},
		Input: []*onnxpb.ValueInfoProto{ValueInfo("probabilities", onnxpb.TensorProto_FLOAT, -1, 2)},
		Output: []*onnxpb.ValueInfoProto{{Name: "output_probability", Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{SequenceType: &onnxpb.TypeProto_Sequence{
			ElemType: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_MapType{MapType: &onnxpb.TypeProto_Map{
				KeyType:   int32(onnxpb.TensorProto_INT64),
				ValueType: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(onnxpb.TensorProto_FLOAT)}}},
			}}},
		}}}}},
	})
	m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: "ai.onnx.ml", Version: 1})
	return Marshal(m)
}

// graphModel wraps a graph with the default IR version, opset and producer.
func graphModel(g *onnxpb.GraphProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:    DefaultIRVersion,
		ProducerName: DefaultProducer,
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: "", Version: DefaultOpset}},
		Graph:        g,
	}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: v}
}

func stringAttr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRING, S: []byte(v)}
}

func stringsAttr(name string, v ...string) *onnxpb.AttributeProto {
	a := &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRINGS}
	for _, s := range v {
		a.Strings = append(a.Strings, []byte(s))
	}
	return a
}
