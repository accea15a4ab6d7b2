package model

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/marina-dev/marina/internal/model/onnxpb"
)

// onnxLimits bound what the ONNX reader holds in memory. Real models are far below each; a file beyond them is
// hostile or broken, and gets an error instead of an allocation sized by the file.
type onnxLimits struct {
	valueInfoBytes  int64 // one graph input or output (name + type)
	valueInfoTotal  int64 // all graph inputs and outputs together
	smallBytes      int64 // producer name, one opset_import entry, one initializer name
	values          int   // graph inputs, and graph outputs, each
	opsets          int
	initializers    int
	initializerName int // all initializer names together, in bytes
}

var defaultONNXLimits = onnxLimits{
	valueInfoBytes:  1 << 20,
	valueInfoTotal:  64 << 20,
	smallBytes:      64 << 10,
	values:          10_000,
	opsets:          1_000,
	initializers:    1 << 20,
	initializerName: 64 << 20,
}

// Field numbers in onnx.proto (ModelProto, GraphProto, TensorProto, SparseTensorProto).
const (
	fieldModelIRVersion   protowire.Number = 1
	fieldModelProducer    protowire.Number = 2
	fieldModelGraph       protowire.Number = 7
	fieldModelOpsetImport protowire.Number = 8

	fieldGraphInitializer       protowire.Number = 5
	fieldGraphInput             protowire.Number = 11
	fieldGraphOutput            protowire.Number = 12
	fieldGraphSparseInitializer protowire.Number = 15

	fieldTensorName         protowire.Number = 8
	fieldSparseTensorValues protowire.Number = 1
)

// onnxDTypes names ONNX TensorProto.DataType values the way the metadata writes dtypes.
var onnxDTypes = map[int32]string{
	0:  "undefined",
	1:  "float32",
	2:  "uint8",
	3:  "int8",
	4:  "uint16",
	5:  "int16",
	6:  "int32",
	7:  "int64",
	8:  "string",
	9:  "bool",
	10: "float16",
	11: "float64",
	12: "uint32",
	13: "uint64",
	14: "complex64",
	15: "complex128",
	16: "bfloat16",
	17: "float8e4m3fn",
	18: "float8e4m3fnuz",
	19: "float8e5m2",
	20: "float8e5m2fnuz",
	21: "uint4",
	22: "int4",
	23: "float4e2m1",
	24: "float8e8m0",
	25: "uint2",
	26: "int2",
}

// onnxParser walks a ModelProto's wire format. Only the few fields marina needs are decoded; everything else
// (node lists, initializer data) is skipped by seeking past its declared length, so memory use does not grow
// with the weights.
type onnxParser struct {
	r      io.ReadSeeker
	br     *bufio.Reader
	pos    int64 // offset in the file of the next byte br returns
	limits onnxLimits

	irVersion    int64
	hasIRVersion bool
	hasGraph     bool
	producer     string
	opsets       int
	opset        int64
	inputs       []*onnxpb.ValueInfoProto
	outputs      []*onnxpb.ValueInfoProto
	initializers map[string]struct{}
	nameBytes    int
	valueBytes   int64
}

// inspectONNX reads the signature of an ONNX model, or reports FormatOther for content that is not one.
func inspectONNX(r io.ReadSeeker, size int64, limits onnxLimits) (Inspection, error) {
	p := &onnxParser{r: r, br: bufio.NewReaderSize(r, 64<<10), limits: limits, initializers: map[string]struct{}{}}
	looksONNX := p.startsWithIRVersion()
	err := p.walk(size, p.modelField)
	if err == nil && p.hasIRVersion && p.irVersion > 0 && p.hasGraph {
		err = p.checkComplete()
		if err == nil {
			return p.inspection()
		}
	}
	if err == nil {
		switch {
		case !p.hasIRVersion:
			err = errors.New("no ir_version field")
		case p.irVersion <= 0:
			err = fmt.Errorf("ir_version %d is not positive", p.irVersion)
		default:
			err = errors.New("no graph (truncated file?)")
		}
	}
	if !looksONNX {
		return Inspection{Format: FormatOther, notONNX: err}, nil
	}
	return Inspection{}, fmt.Errorf("%w: %w", ErrMalformedONNX, err)
}

// startsWithIRVersion reports whether the content begins the way every ONNX exporter writes a model: the
// ir_version varint (field 1), with a plausible value. It separates "not ONNX" from "broken ONNX".
func (p *onnxParser) startsWithIRVersion() bool {
	head, _ := p.br.Peek(1 + protowire.SizeVarint(1<<63))
	num, typ, n := protowire.ConsumeTag(head)
	if n < 0 || num != fieldModelIRVersion || typ != protowire.VarintType {
		return false
	}
	v, m := protowire.ConsumeVarint(head[n:])
	return m > 0 && v >= 1 && v <= 1000
}

// checkComplete rejects models missing what the ONNX checker requires, which here mostly means a file cut at a
// field boundary: IR version 3 and later must import an operator set.
func (p *onnxParser) checkComplete() error {
	if p.irVersion >= 3 && p.opsets == 0 {
		return errors.New("no opset_import (required since IR version 3; truncated file?)")
	}
	return nil
}

func (p *onnxParser) inspection() (Inspection, error) {
	in := Inspection{Format: FormatONNX, Opset: p.opset, IRVersion: p.irVersion, Producer: p.producer}
	for _, vi := range p.inputs {
		// Initializers listed as graph inputs (required before IR version 4) are weights, not model inputs.
		if _, ok := p.initializers[vi.GetName()]; ok {
			continue
		}
		in.Inputs = append(in.Inputs, tensorOf(vi))
	}
	for _, vi := range p.outputs {
		in.Outputs = append(in.Outputs, tensorOf(vi))
	}
	return in, nil
}

// modelField handles one top-level ModelProto field.
func (p *onnxParser) modelField(num protowire.Number, typ protowire.Type, end int64) error {
	switch {
	case num == fieldModelIRVersion && typ == protowire.VarintType:
		v, err := p.varint()
		if err != nil {
			return fmt.Errorf("ir_version: %w", err)
		}
		p.irVersion, p.hasIRVersion = int64(v), true
		return nil
	case num == fieldModelProducer && typ == protowire.BytesType:
		b, err := p.bytesField(end, p.limits.smallBytes, "producer_name")
		p.producer = string(b)
		return err
	case num == fieldModelOpsetImport && typ == protowire.BytesType:
		b, err := p.bytesField(end, p.limits.smallBytes, "opset_import")
		if err != nil {
			return err
		}
		if p.opsets++; p.opsets > p.limits.opsets {
			return fmt.Errorf("more than %d opset_import entries", p.limits.opsets)
		}
		var set onnxpb.OperatorSetIdProto
		if err := proto.Unmarshal(b, &set); err != nil {
			return fmt.Errorf("opset_import: %w", err)
		}
		if d := set.GetDomain(); d == "" || d == "ai.onnx" {
			p.opset = set.GetVersion()
		}
		return nil
	case num == fieldModelGraph && typ == protowire.BytesType:
		p.hasGraph = true
		return p.message(end, "graph", p.graphField)
	}
	return p.skip(typ, end)
}

// graphField handles one GraphProto field.
func (p *onnxParser) graphField(num protowire.Number, typ protowire.Type, end int64) error {
	if typ != protowire.BytesType {
		return p.skip(typ, end)
	}
	switch num {
	case fieldGraphInput, fieldGraphOutput:
		what, list := "graph.input", &p.inputs
		if num == fieldGraphOutput {
			what, list = "graph.output", &p.outputs
		}
		if len(*list) >= p.limits.values {
			return fmt.Errorf("%s: more than %d entries", what, p.limits.values)
		}
		b, err := p.bytesField(end, p.limits.valueInfoBytes, what)
		if err != nil {
			return err
		}
		if p.valueBytes += int64(len(b)); p.valueBytes > p.limits.valueInfoTotal {
			return fmt.Errorf("graph inputs and outputs exceed %d bytes together", p.limits.valueInfoTotal)
		}
		vi := &onnxpb.ValueInfoProto{}
		if err := proto.Unmarshal(b, vi); err != nil {
			return fmt.Errorf("%s %d: %w", what, len(*list), err)
		}
		*list = append(*list, vi)
		return nil
	case fieldGraphInitializer:
		return p.initializer(end, "graph.initializer")
	case fieldGraphSparseInitializer:
		return p.message(end, "graph.sparse_initializer", func(num protowire.Number, typ protowire.Type, end int64) error {
			if num == fieldSparseTensorValues && typ == protowire.BytesType {
				return p.initializer(end, "graph.sparse_initializer.values")
			}
			return p.skip(typ, end)
		})
	}
	return p.skip(typ, end)
}

// initializer walks a TensorProto, remembering its name and skipping its data.
func (p *onnxParser) initializer(end int64, what string) error {
	var name []byte
	err := p.message(end, what, func(num protowire.Number, typ protowire.Type, end int64) error {
		if num != fieldTensorName || typ != protowire.BytesType {
			return p.skip(typ, end)
		}
		var err error
		name, err = p.bytesField(end, p.limits.smallBytes, "name") // the last one wins, as in protobuf
		return err
	})
	if err != nil {
		return err
	}
	if _, ok := p.initializers[string(name)]; ok {
		return nil
	}
	p.nameBytes += len(name)
	if len(p.initializers) >= p.limits.initializers || p.nameBytes > p.limits.initializerName {
		return fmt.Errorf("%s: more than %d initializers or %d bytes of initializer names", what, p.limits.initializers, p.limits.initializerName)
	}
	p.initializers[string(name)] = struct{}{}
	return nil
}

// fieldFunc consumes the value of one field whose tag was just read; end is where the enclosing message ends.
type fieldFunc func(num protowire.Number, typ protowire.Type, end int64) error

// walk reads fields until end, handing each to f.
func (p *onnxParser) walk(end int64, f fieldFunc) error {
	for p.pos < end {
		at := p.pos
		tag, err := p.varint()
		if err != nil {
			return fmt.Errorf("at byte %d: field tag: %w", at, err)
		}
		num, typ := protowire.DecodeTag(tag)
		if tag>>3 > uint64(protowire.MaxValidNumber) || num < protowire.MinValidNumber {
			return fmt.Errorf("at byte %d: invalid field number %d", at, tag>>3)
		}
		if err := f(num, typ, end); err != nil {
			return fmt.Errorf("at byte %d: field %d: %w", at, num, err)
		}
		if p.pos > end {
			return fmt.Errorf("at byte %d: field %d runs %d bytes past the end of its message", at, num, p.pos-end)
		}
	}
	return nil
}

// message walks the embedded message whose length prefix comes next, which must fit before end.
func (p *onnxParser) message(end int64, what string, f fieldFunc) error {
	n, err := p.length(end, what)
	if err != nil {
		return err
	}
	if err := p.walk(p.pos+n, f); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// length reads a length prefix and checks that the field fits before end.
func (p *onnxParser) length(end int64, what string) (int64, error) {
	v, err := p.varint()
	if err != nil {
		return 0, fmt.Errorf("%s length: %w", what, err)
	}
	if remaining := end - p.pos; remaining < 0 || v > uint64(remaining) {
		return 0, fmt.Errorf("%s declares %d bytes but only %d remain (truncated file?)", what, v, remaining)
	}
	return int64(v), nil
}

// bytesField reads a length-delimited field of at most limit bytes.
func (p *onnxParser) bytesField(end int64, limit int64, what string) ([]byte, error) {
	n, err := p.length(end, what)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the limit of %d", what, n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(p.br, b); err != nil {
		return nil, fmt.Errorf("%s: %w", what, noEOF(err))
	}
	p.pos += n
	return b, nil
}

// skip consumes a field value of the given wire type without keeping it.
func (p *onnxParser) skip(typ protowire.Type, end int64) error {
	switch typ {
	case protowire.VarintType:
		_, err := p.varint()
		return err
	case protowire.Fixed32Type:
		return p.discard(4, end)
	case protowire.Fixed64Type:
		return p.discard(8, end)
	case protowire.BytesType:
		n, err := p.length(end, "field")
		if err != nil {
			return err
		}
		return p.discard(n, end)
	}
	// Groups are deprecated and absent from onnx.proto; skipping one would need a recursive walk for nothing.
	return fmt.Errorf("unsupported wire type %d", typ)
}

// discard skips n bytes, seeking past what is not buffered so large weights are never read.
func (p *onnxParser) discard(n, end int64) error {
	if n > end-p.pos {
		return fmt.Errorf("field needs %d bytes but only %d remain (truncated file?)", n, end-p.pos)
	}
	if buffered := int64(p.br.Buffered()); n <= buffered {
		if _, err := p.br.Discard(int(n)); err != nil {
			return err
		}
		p.pos += n
		return nil
	}
	if _, err := p.r.Seek(p.pos+n, io.SeekStart); err != nil {
		return err
	}
	p.br.Reset(p.r)
	p.pos += n
	return nil
}

// varint reads one base-128 varint.
func (p *onnxParser) varint() (uint64, error) {
	head, err := p.br.Peek(protowire.SizeVarint(1 << 63))
	if len(head) == 0 {
		return 0, noEOF(err)
	}
	v, n := protowire.ConsumeVarint(head)
	if n < 0 {
		return 0, protowire.ParseError(n) // io.ErrUnexpectedEOF when cut short
	}
	if _, err := p.br.Discard(n); err != nil {
		return 0, err
	}
	p.pos += int64(n)
	return v, nil
}

// noEOF turns a clean EOF in the middle of a message into the unexpected EOF it is.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// tensorOf converts an ONNX value description to marina's Tensor.
func tensorOf(vi *onnxpb.ValueInfoProto) Tensor {
	t := Tensor{Name: vi.GetName()}
	typ := vi.GetType()
	var shape *onnxpb.TensorShapeProto
	switch {
	case typ.GetTensorType() != nil:
		t.DType = dtypeName(typ.GetTensorType().GetElemType())
		shape = typ.GetTensorType().GetShape()
	case typ.GetSparseTensorType() != nil:
		t.DType = dtypeName(typ.GetSparseTensorType().GetElemType())
		shape = typ.GetSparseTensorType().GetShape()
	case typ.GetSequenceType() != nil:
		t.DType = "sequence"
	case typ.GetMapType() != nil:
		t.DType = "map"
	case typ.GetOptionalType() != nil:
		t.DType = "optional"
	default:
		t.DType = "undefined"
	}
	if shape != nil {
		t.Shape = make([]int64, 0, len(shape.GetDim()))
		for _, d := range shape.GetDim() {
			v, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue)
			if !ok || v.DimValue < 0 {
				t.Shape = append(t.Shape, -1)
				continue
			}
			t.Shape = append(t.Shape, v.DimValue)
		}
	}
	return t
}

func dtypeName(elem int32) string {
	if name, ok := onnxDTypes[elem]; ok {
		return name
	}
	return fmt.Sprintf("unknown(%d)", elem)
}
