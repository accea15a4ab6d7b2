package serve

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"

	"github.com/marina-dev/marina/internal/oip"
)

// appendInferResponse appends resp as encoding/json writes it (json.Encoder: HTML-safe, a final newline), without
// reflection: encoding the answer was 5.5% of marina serve's CPU per request in bench/serve's profile.
// FuzzAppendInferResponseMatchesEncodingJSON holds it to encoding/json byte for byte. It returns false when an
// output holds NaN or an infinity, which JSON cannot say: writeJSON then answers with encoding/json's error.
func appendInferResponse(b []byte, resp inferResponse) ([]byte, bool) {
	b = append(b, `{"model_name":`...)
	b = appendString(b, resp.ModelName)
	if resp.ModelVersion != "" {
		b = append(b, `,"model_version":`...)
		b = appendString(b, resp.ModelVersion)
	}
	if resp.ID != "" {
		b = append(b, `,"id":`...)
		b = appendString(b, resp.ID)
	}
	b = append(b, `,"outputs":[`...)
	for i, o := range resp.Outputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, o.Name)
		b = append(b, `,"shape":`...)
		b = appendList(b, o.Shape, func(b []byte, d int64) []byte { return strconv.AppendInt(b, d, 10) })
		b = append(b, `,"datatype":`...)
		b = appendString(b, o.Datatype)
		if o.Parameters != nil {
			// Binary tensor data: its size here, the bytes after the JSON (appendBinaryOutputs).
			b = append(b, `,"parameters":{"binary_data_size":`...)
			b = strconv.AppendInt(b, o.Parameters.BinaryDataSize, 10)
			b = append(b, "}}"...)
			continue
		}
		b = append(b, `,"data":`...)
		ok := true
		switch d := o.Data.(type) {
		case []float32:
			b = appendList(b, d, func(b []byte, f float32) []byte {
				if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
					ok = false
				}
				return appendFloat32(b, f)
			})
		case []int64:
			b = appendList(b, d, func(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) })
		case []bool:
			b = appendList(b, d, strconv.AppendBool)
		case []string:
			b = appendList(b, d, appendString)
		default:
			ok = false
		}
		if !ok {
			return b, false
		}
		b = append(b, '}')
	}
	return append(b, "]}\n"...), true
}

// appendList appends a JSON array, or null for a nil slice, as encoding/json does.
func appendList[T any](b []byte, list []T, elem func([]byte, T) []byte) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, v)
	}
	return append(b, ']')
}

// appendFloat32 formats f as encoding/json does: like ES6, the shortest representation, exponent form only below
// 1e-6 and from 1e21, the exponent without leading zeros.
func appendFloat32(b []byte, f float32) []byte {
	abs := math.Abs(float64(f))
	format := byte('f')
	if abs != 0 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, float64(f), format, -1, 32)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString appends s as a JSON string: as it is when it is printable ASCII with nothing encoding/json escapes,
// else as encoding/json writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendBinaryOutputs appends the data of resp's binary outputs, in order.
func appendBinaryOutputs(b []byte, resp inferResponse) []byte {
	for _, o := range resp.Outputs {
		if o.Parameters != nil {
			b = appendTensor(b, o)
		}
	}
	return b
}

// responses recycles response buffers.
var responses = sync.Pool{New: func() any { return new([]byte) }}

// writeInferResponse writes resp with code 200, or, when it holds what JSON cannot say, encoding/json's error. With
// binary outputs, the body is the JSON then their data, and oip.InferenceHeader says where the JSON ends.
func writeInferResponse(w http.ResponseWriter, resp inferResponse) {
	buf := responses.Get().(*[]byte)
	defer responses.Put(buf)
	b, ok := appendInferResponse((*buf)[:0], resp)
	*buf = b
	if !ok {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	if n := len(b); resp.binary {
		b = appendBinaryOutputs(b, resp)
		*buf = b
		w.Header().Set(oip.InferenceHeader, strconv.Itoa(n))
		w.Header().Set("Content-Type", binaryContentType)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
