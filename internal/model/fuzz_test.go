package model

import (
	"bytes"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/marina-dev/marina/internal/model/onnxpb"
	"github.com/marina-dev/marina/internal/model/onnxtest"
)

// FuzzInspectONNX feeds arbitrary bytes to the format detector and ONNX reader. It must never panic, and
// whenever both the streaming reader and a plain proto.Unmarshal of the whole model accept the input, they must
// agree on the signature.
func FuzzInspectONNX(f *testing.F) {
	ir3 := onnxtest.Iris()
	ir3.InitializersAsInputs, ir3.IRVersion = true, 3
	for _, l := range []interface{ Bytes() ([]byte, error) }{onnxtest.Iris(), image(), ir3} {
		b, err := l.Bytes()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add(rawModel(inputs(3), 15))
	f.Add(zipped(f, "archive/code/__torch__.py"))
	f.Add([]byte("not a model"))

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := inspectReader(bytes.NewReader(data), int64(len(data)))
		if err != nil || got.Format != FormatONNX {
			return
		}
		var m onnxpb.ModelProto
		if proto.Unmarshal(data, &m) != nil {
			return // the streaming reader skips fields proto.Unmarshal validates, such as node strings
		}
		want := Inspection{Format: FormatONNX, IRVersion: m.GetIrVersion(), Producer: m.GetProducerName()}
		for _, set := range m.GetOpsetImport() {
			if set.GetDomain() == "" || set.GetDomain() == "ai.onnx" {
				want.Opset = set.GetVersion()
			}
		}
		weights := map[string]bool{}
		for _, init := range m.GetGraph().GetInitializer() {
			weights[init.GetName()] = true
		}
		for _, sparse := range m.GetGraph().GetSparseInitializer() {
			weights[sparse.GetValues().GetName()] = true
		}
		for _, vi := range m.GetGraph().GetInput() {
			if !weights[vi.GetName()] {
				want.Inputs = append(want.Inputs, tensorOf(vi))
			}
		}
		for _, vi := range m.GetGraph().GetOutput() {
			want.Outputs = append(want.Outputs, tensorOf(vi))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("streaming reader and proto.Unmarshal disagree\n got %+v\nwant %+v", got, want)
		}
	})
}
