package router

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/x448/float16"

	"github.com/marina-dev/marina/internal/oip"
)

// binaryDataSize reads an output's parameters.binary_data_size: whether it is there, and its value.
func binaryDataSize(parameters json.RawMessage) (int, bool, error) {
	if len(parameters) == 0 || string(parameters) == "null" {
		return 0, false, nil
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(parameters, &p); err != nil {
		return 0, false, fmt.Errorf("parameters: %w", err)
	}
	v, ok := p["binary_data_size"]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 0)
	if err != nil || n < 0 {
		return 0, true, fmt.Errorf("parameters.binary_data_size %s is not a size", v)
	}
	return int(n), true, nil
}

// elementSizes are the sizes in binary tensor data of the elements of the protocol's fixed-size datatypes.
var elementSizes = map[string]int{
	"BOOL": 1, "INT8": 1, "UINT8": 1, "INT16": 2, "UINT16": 2, "FP16": 2, "BF16": 2,
	"INT32": 4, "UINT32": 4, "FP32": 4, "INT64": 8, "UINT64": 8, "FP64": 8,
}

// elements is the product of shape's dimensions, or -1 when one is negative or the product overflows.
func elements(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return -1
		}
		n *= d
	}
	return n
}

// checkBinarySize reports an output's binary data whose size does not fit its shape and datatype; BYTES elements
// have no fixed size and are counted as they are read.
func checkBinarySize(datatype string, shape []int, size int) error {
	if datatype == "BYTES" {
		return nil
	}
	per, ok := elementSizes[datatype]
	if !ok {
		return fmt.Errorf("datatype %q has no binary form", datatype)
	}
	if n := elements(shape); n < 0 || n*per != size {
		return fmt.Errorf("binary_data_size %d does not fit shape %v of %s", size, shape, datatype)
	}
	return nil
}

// fillBinary decodes an output's binary tensor data into t's values as fill decodes its JSON twin: a float as the
// shortest decimal that is the same float of its datatype (what a JSON answer writes), read back as a float64.
func (t *tensor) fillBinary(b []byte) error {
	t.integer = true
	le := binary.LittleEndian
	if t.datatype == "BYTES" {
		strs, err := oip.Strings(b, int64(elements(t.shape)))
		t.strs = strs
		return err
	}
	per := elementSizes[t.datatype]
	if per == 0 || len(b)%per != 0 {
		return fmt.Errorf("%d bytes of %s", len(b), t.datatype)
	}
	t.nums = make([]float64, len(b)/per)
	for i := range t.nums {
		e := b[i*per:]
		var f float64
		switch t.datatype {
		case "BOOL":
			if e[0] > 1 {
				return fmt.Errorf("BOOL element %d is byte %d", i, e[0])
			}
			f = float64(e[0])
		case "INT8":
			f = float64(int8(e[0]))
		case "UINT8":
			f = float64(e[0])
		case "INT16":
			f = float64(int16(le.Uint16(e)))
		case "UINT16":
			f = float64(le.Uint16(e))
		case "INT32":
			f = float64(int32(le.Uint32(e)))
		case "UINT32":
			f = float64(le.Uint32(e))
		case "INT64":
			f = float64(int64(le.Uint64(e)))
		case "UINT64":
			f = float64(le.Uint64(e))
		case "FP64":
			f = math.Float64frombits(le.Uint64(e))
		case "FP32":
			f = asJSON(math.Float32frombits(le.Uint32(e)))
		case "FP16":
			f = asJSON(float16.Frombits(le.Uint16(e)).Float32())
		case "BF16":
			f = asJSON(math.Float32frombits(uint32(le.Uint16(e)) << 16))
		}
		if t.datatype != "BOOL" {
			t.integer = t.integer && f == math.Trunc(f)
		}
		t.nums[i] = f
	}
	return nil
}

// asJSON is f as a JSON answer says it, the shortest decimal that is f, read as a float64.
func asJSON(f float32) float64 {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return float64(f)
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}
