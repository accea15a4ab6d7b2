package model

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/marina-dev/marina/internal/model/onnxpb"
	"github.com/marina-dev/marina/internal/model/onnxtest"
)

// image is a small Flatten model shaped like the vision example, with an image input.
func image() onnxtest.Linear {
	return onnxtest.Linear{
		Input: "image", Output: "logits", InputShape: []int64{3, 4, 4},
		Weights: make([]float32, 3*4*4*5), Bias: make([]float32, 5),
	}
}

func mustBytes(t testing.TB, l onnxtest.Linear) []byte {
	t.Helper()
	b, err := l.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMarshal(t testing.TB, m *onnxpb.ModelProto) []byte {
	t.Helper()
	b, err := onnxtest.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawModel assembles a ModelProto by hand: ir_version 8, the given graph bytes under a declared length, and
// an opset import. It builds files that no well-behaved marshaller writes.
func rawModel(graph []byte, declaredLen int) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 8)
	b = protowire.AppendTag(b, 7, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(declaredLen))
	b = append(b, graph...)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte{0x10, 17}) // OperatorSetIdProto{version: 17}
	return b
}

func inputs(n int) []byte {
	var g []byte
	for range n {
		g = protowire.AppendTag(g, 11, protowire.BytesType)
		g = protowire.AppendBytes(g, []byte{0x0a, 1, 'x'}) // ValueInfoProto{name: "x"}
	}
	return g
}

func zipped(t testing.TB, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		if _, err := zw.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInspectReader(t *testing.T) {
	t.Parallel()
	irisSig := Inspection{
		Format: FormatONNX, Opset: 17, IRVersion: 8, Producer: onnxtest.DefaultProducer,
		Inputs:  []Tensor{{Name: "input", DType: "float32", Shape: []int64{-1, 4}}},
		Outputs: []Tensor{{Name: "probabilities", DType: "float32", Shape: []int64{-1, 3}}},
	}
	ir3 := onnxtest.Iris()
	ir3.InitializersAsInputs, ir3.IRVersion, ir3.Opset = true, 3, 9
	ir3Sig := irisSig
	ir3Sig.IRVersion, ir3Sig.Opset = 3, 9

	types, err := onnxtest.Iris().Model()
	if err != nil {
		t.Fatal(err)
	}
	seq := &onnxpb.ValueInfoProto{Name: "tokens", Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{
		SequenceType: &onnxpb.TypeProto_Sequence{}}}}
	unranked := onnxtest.ValueInfo("ids", onnxpb.TensorProto_INT64)
	unranked.Type.GetTensorType().Shape = nil
	types.Graph.Input = append(types.Graph.Input,
		onnxtest.ValueInfo("text", onnxpb.TensorProto_STRING, -1, -1),
		onnxtest.ValueInfo("temperature", onnxpb.TensorProto_DOUBLE), // a scalar
		unranked, seq)
	types.OpsetImport = append(types.OpsetImport,
		&onnxpb.OperatorSetIdProto{Domain: "com.microsoft", Version: 1},
		&onnxpb.OperatorSetIdProto{Domain: "ai.onnx.ml", Version: 3})
	typesSig := irisSig
	typesSig.Inputs = append(append([]Tensor{}, irisSig.Inputs...),
		Tensor{Name: "text", DType: "string", Shape: []int64{-1, -1}},
		Tensor{Name: "temperature", DType: "float64", Shape: []int64{}},
		Tensor{Name: "ids", DType: "int64"},
		Tensor{Name: "tokens", DType: "sequence"})

	aiOnnx, err := onnxtest.Iris().Model()
	if err != nil {
		t.Fatal(err)
	}
	aiOnnx.OpsetImport[0].Domain = "ai.onnx"

	noGraph, err := onnxtest.Iris().Model()
	if err != nil {
		t.Fatal(err)
	}
	noGraph.Graph = nil
	noOpset, err := onnxtest.Iris().Model()
	if err != nil {
		t.Fatal(err)
	}
	noOpset.OpsetImport = nil

	good := mustBytes(t, onnxtest.Iris())
	valid := func(graph []byte) []byte { return rawModel(graph, len(graph)) }

	tests := []struct {
		name    string
		content []byte
		want    Inspection
		wantErr string // substring; the error must also wrap ErrMalformedONNX
	}{
		{name: "linear classifier reports opset, IR version, producer, batch-dynamic input and output", content: good, want: irisSig},
		{
			name:    "flatten model reports its image input with a dynamic batch",
			content: mustBytes(t, image()),
			want: Inspection{
				Format: FormatONNX, Opset: 17, IRVersion: 8, Producer: onnxtest.DefaultProducer,
				Inputs:  []Tensor{{Name: "image", DType: "float32", Shape: []int64{-1, 3, 4, 4}}},
				Outputs: []Tensor{{Name: "logits", DType: "float32", Shape: []int64{-1, 5}}},
			},
		},
		{name: "initializers listed as graph inputs are not model inputs", content: mustBytes(t, ir3), want: ir3Sig},
		{name: "dtypes, scalars, unknown ranks and non-tensor types are mapped", content: mustMarshal(t, types), want: typesSig},
		{name: "opset of the ai.onnx domain counts as the default domain", content: mustMarshal(t, aiOnnx), want: irisSig},
		{name: "empty file is other", content: nil, want: Inspection{Format: FormatOther}},
		{name: "text file is other", content: []byte("name: iris\nversion: 1.0.0\n"), want: Inspection{Format: FormatOther}},
		{name: "JSON file is other", content: []byte(`{"ir_version": 8}`), want: Inspection{Format: FormatOther}},
		{name: "PNG header is other", content: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), want: Inspection{Format: FormatOther}},
		{name: "zip archive with a code directory is torchscript", content: zipped(t, "model/code/__torch__.py", "model/data/0"), want: Inspection{Format: FormatTorchScript}},
		{name: "zip archive with constants.pkl is torchscript", content: zipped(t, "archive/constants.pkl"), want: Inspection{Format: FormatTorchScript}},
		{name: "zip archive with data.pkl is torchscript", content: zipped(t, "archive/data.pkl", "archive/version"), want: Inspection{Format: FormatTorchScript}},
		{name: "zip archive of other files is other", content: zipped(t, "README.md", "weights.bin"), want: Inspection{Format: FormatOther}},
		{name: "corrupt zip archive is other", content: []byte("PK\x03\x04 not really a zip"), want: Inspection{Format: FormatOther}},
		{name: "model without a graph is malformed", content: mustMarshal(t, noGraph), wantErr: "no graph"},
		{name: "model without an opset import is malformed", content: mustMarshal(t, noOpset), wantErr: "no opset_import"},
		{name: "graph declaring more bytes than the file holds is malformed", content: rawModel(inputs(2), 4096), wantErr: "declares 4096 bytes but only"},
		{name: "graph declaring fewer bytes than its fields use is malformed", content: rawModel(inputs(2), 7), wantErr: "graph.input declares 3 bytes but only 0 remain"},
		{name: "varint running past the end of its message is malformed", content: rawModel([]byte{0x08, 0x80, 0x01}, 2), wantErr: "past the end of its message"},
		{name: "length near 2^64 is malformed, not an allocation", content: rawModel(inputs(1), -1), wantErr: "declares 18446744073709551615 bytes"},
		{name: "more than 10000 graph inputs are rejected", content: valid(inputs(10_001)), wantErr: "more than 10000 entries"},
		{
			name:    "graph input larger than 1 MiB is rejected before it is read",
			content: valid(protowire.AppendBytes(protowire.AppendTag(nil, 11, protowire.BytesType), make([]byte, 1<<20+1))),
			wantErr: "more than the limit",
		},
		{
			name:    "group wire type is malformed",
			content: valid(protowire.AppendTag(nil, 1, protowire.StartGroupType)),
			wantErr: "unsupported wire type",
		},
		{
			name:    "graph input that is not a ValueInfoProto is malformed",
			content: valid(protowire.AppendBytes(protowire.AppendTag(nil, 11, protowire.BytesType), []byte{0x0a, 9, 'x'})),
			wantErr: "graph.input 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := inspectReader(bytes.NewReader(tt.content), int64(len(tt.content)))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrMalformedONNX) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want ErrMalformedONNX containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			if got.Format == FormatOther && got.notONNX == nil && !bytes.HasPrefix(tt.content, []byte("PK")) {
				t.Error("no reason recorded for content that is not ONNX")
			}
			got.notONNX = nil // its wording is checked where it is shown (registry's tests)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("inspection\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestInspectRejectsEveryTruncationOfAModel(t *testing.T) {
	t.Parallel()
	for _, l := range []onnxtest.Linear{onnxtest.Iris(), image()} {
		full := mustBytes(t, l)
		// A single byte cannot say it is ONNX yet; from two bytes on, the ir_version field is recognisable.
		for n := 2; n < len(full); n++ {
			_, err := inspectReader(bytes.NewReader(full[:n]), int64(n))
			if !errors.Is(err, ErrMalformedONNX) {
				t.Fatalf("%s cut to %d of %d bytes: error = %v, want ErrMalformedONNX", l.Input, n, len(full), err)
			}
		}
	}
}

// countingReader counts the bytes actually read, to prove the weights are skipped rather than read.
type countingReader struct {
	io.ReadSeeker
	read int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadSeeker.Read(p)
	c.read += int64(n)
	return n, err
}

func TestInspectSkipsWeightsWithoutReadingThem(t *testing.T) {
	t.Parallel()
	l := image()
	l.InputShape = []int64{3, 128, 128}
	l.Weights = make([]float32, 3*128*128*len(l.Bias)) // ~1 MiB of weights, 20 times the read buffer
	content := mustBytes(t, l)
	r := &countingReader{ReadSeeker: bytes.NewReader(content)}
	got, err := inspectReader(r, int64(len(content)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Format != FormatONNX || len(got.Inputs) != 1 {
		t.Fatalf("inspection = %+v, want one ONNX input", got)
	}
	if r.read > int64(len(content))/4 {
		t.Errorf("read %d of %d bytes, want the weights skipped", r.read, len(content))
	}
}

func TestInspect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	onnxNamedPT := write("model.pt", mustBytes(t, onnxtest.Iris()))
	truncated := write("half.onnx", mustBytes(t, onnxtest.Iris())[:40])
	savedModel := filepath.Dir(write("saved/saved_model.pb", []byte("\x08\x01")))
	emptyDir := filepath.Join(dir, "empty")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		path       string
		wantFormat string
		wantErr    string
	}{
		{name: "format comes from the content, not the extension", path: onnxNamedPT, wantFormat: FormatONNX},
		{name: "directory with saved_model.pb is a SavedModel", path: savedModel, wantFormat: FormatSavedModel},
		{name: "directory without saved_model.pb is other", path: emptyDir, wantFormat: FormatOther},
		{name: "truncated model is an error naming the file", path: truncated, wantErr: truncated},
		{name: "missing file is an error naming the file", path: filepath.Join(dir, "missing.onnx"), wantErr: "missing.onnx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Inspect(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Inspect error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if got.Format != tt.wantFormat {
				t.Errorf("Format = %q, want %q", got.Format, tt.wantFormat)
			}
		})
	}
}

func TestInspectEnforcesLimits(t *testing.T) {
	t.Parallel()
	tensors := func(names ...string) []byte {
		var g []byte
		for _, n := range names {
			g = protowire.AppendTag(g, 5, protowire.BytesType)
			g = protowire.AppendBytes(g, protowire.AppendString(protowire.AppendTag(nil, 8, protowire.BytesType), n))
		}
		return g
	}
	twoOpsets := rawModel(inputs(1), 5)
	twoOpsets = protowire.AppendTag(twoOpsets, 8, protowire.BytesType)
	twoOpsets = protowire.AppendBytes(twoOpsets, []byte{0x0a, 2, 'x', 'y', 0x10, 1})

	tests := []struct {
		name    string
		content []byte
		limits  func(*onnxLimits)
		wantErr string
	}{
		{
			name:    "graph inputs and outputs over the total byte budget are rejected",
			content: rawModel(inputs(4), 20),
			limits:  func(l *onnxLimits) { l.valueInfoTotal = 10 },
			wantErr: "exceed 10 bytes together",
		},
		{
			name:    "too many distinct initializers are rejected",
			content: rawModel(tensors("a", "b", "c"), 15),
			limits:  func(l *onnxLimits) { l.initializers = 2 },
			wantErr: "more than 2 initializers",
		},
		{
			name:    "too many opset imports are rejected",
			content: twoOpsets,
			limits:  func(l *onnxLimits) { l.opsets = 1 },
			wantErr: "more than 1 opset_import entries",
		},
		{
			name:    "producer name over the small-field limit is rejected",
			content: mustBytes(t, onnxtest.Iris()),
			limits:  func(l *onnxLimits) { l.smallBytes = 4 },
			wantErr: "producer_name is 16 bytes, more than the limit of 4",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			limits := defaultONNXLimits
			tt.limits(&limits)
			if _, err := inspectReader(bytes.NewReader(tt.content), int64(len(tt.content))); err != nil {
				t.Fatalf("within the default limits: %v", err)
			}
			_, err := inspectReaderLimits(bytes.NewReader(tt.content), int64(len(tt.content)), limits)
			if !errors.Is(err, ErrMalformedONNX) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want ErrMalformedONNX containing %q", err, tt.wantErr)
			}
		})
	}
}
