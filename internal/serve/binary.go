package serve

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/x448/float16"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/oip"
)

// binaryContentType is the Content-Type of an answer with binary outputs, as Triton sends it.
const binaryContentType = "application/octet-stream"

// parameter is the value, as written, of key in the parameters object raw, and whether it is there; the last one
// counts when a key repeats, as with encoding/json. raw is valid JSON; anything but an object has no parameters.
func parameter(raw json.RawMessage, key string) ([]byte, bool) {
	s := tokens{b: raw}
	if tok, err := s.next(); err != nil || tok.kind != '{' {
		return nil, false
	}
	var val []byte
	found := false
	for {
		tok, err := s.next()
		if err != nil || tok.kind != '"' {
			return val, found
		}
		same := string(tok.text[1:len(tok.text)-1]) == key
		if !same && bytes.IndexByte(tok.text, '\\') >= 0 {
			k, err := tok.str()
			same = err == nil && k == key
		}
		v, err := s.value()
		if err != nil {
			return val, found
		}
		if same {
			val, found = v, true
		}
	}
}

// binarySize reads an input's parameters.binary_data_size: whether it is there, and its value, a non-negative
// integer.
func binarySize(raw json.RawMessage) (int64, bool, error) {
	v, ok := parameter(raw, "binary_data_size")
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 0 {
		return 0, true, fmt.Errorf("parameters.binary_data_size must be a non-negative integer, not %s", abbreviate(v))
	}
	return n, true, nil
}

// binaryFlag reads a boolean parameter (binary_data, binary_data_output): whether it is there, and its value.
func binaryFlag(raw json.RawMessage, key string) (bool, bool, error) {
	v, ok := parameter(raw, key)
	if !ok {
		return false, false, nil
	}
	switch string(v) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, fmt.Errorf("parameters.%s must be true or false, not %s", key, abbreviate(v))
}

// abbreviate shortens a value quoted in an error.
func abbreviate(v []byte) string {
	if len(v) > 40 {
		return string(v[:40]) + "…"
	}
	return string(v)
}

// elementSize is the bytes of one element of a fixed-size dtype in binary tensor data; 0 for strings (BYTES).
func elementSize(dtype string) int64 {
	switch dtype {
	case inference.Float32:
		return 4
	case inference.Float16:
		return 2
	case inference.Int64:
		return 8
	case inference.Bool:
		return 1
	}
	return 0
}

// readBinary fills t's buffer from its binary tensor data b: little-endian, row-major, a BYTES element as a 4-byte
// little-endian length and its bytes. b's length is checked against t's shape before anything is allocated.
func readBinary(b []byte, t *inference.Tensor) error {
	n := elements(t.Shape)
	if n < 0 {
		return fmt.Errorf("shape %v needs an impossible number of values", t.Shape)
	}
	if t.DType == inference.String {
		strs, err := oip.Strings(b, n)
		t.String = strs
		return err
	}
	size := elementSize(t.DType)
	if int64(len(b))/size != n || int64(len(b))%size != 0 {
		return fmt.Errorf("parameters.binary_data_size is %d bytes, shape %v of %s needs %d (%s × %d bytes)", len(b), t.Shape, datatype(t.DType), n*size, count(n), size)
	}
	switch t.DType {
	case inference.Float32:
		t.Float32 = make([]float32, n)
		for i := range t.Float32 {
			t.Float32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case inference.Float16:
		t.Float32 = make([]float32, n)
		for i := range t.Float32 {
			t.Float32[i] = float16.Frombits(binary.LittleEndian.Uint16(b[2*i:])).Float32()
		}
	case inference.Int64:
		t.Int64 = make([]int64, n)
		for i := range t.Int64 {
			t.Int64[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case inference.Bool:
		t.Bool = make([]bool, n)
		for i, c := range b {
			if c > 1 {
				return fmt.Errorf("BOOL element %d is byte %d, not 0 (false) or 1 (true)", i, c)
			}
			t.Bool[i] = c == 1
		}
	default:
		return fmt.Errorf("datatype %s has no binary form", datatype(t.DType))
	}
	return nil
}

// tensorBytes is the size of an output's data in binary form; its datatype tells FP16 from FP32.
func tensorBytes(o responseOutput) int64 {
	switch d := o.Data.(type) {
	case []float32:
		if o.Datatype == "FP16" {
			return 2 * int64(len(d))
		}
		return 4 * int64(len(d))
	case []int64:
		return 8 * int64(len(d))
	case []bool:
		return int64(len(d))
	case []string:
		n := int64(0)
		for _, s := range d {
			n += 4 + int64(len(s))
		}
		return n
	}
	return 0
}

// appendTensor appends an output's data in binary form.
func appendTensor(b []byte, o responseOutput) []byte {
	switch d := o.Data.(type) {
	case []float32:
		if o.Datatype == "FP16" {
			for _, f := range d {
				b = binary.LittleEndian.AppendUint16(b, float16.Fromfloat32(f).Bits())
			}
			return b
		}
		for _, f := range d {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
	case []int64:
		for _, n := range d {
			b = binary.LittleEndian.AppendUint64(b, uint64(n))
		}
	case []bool:
		for _, v := range d {
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		}
	case []string:
		for _, s := range d {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
	}
	return b
}
