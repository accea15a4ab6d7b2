// Package oip is the framing of the Open Inference Protocol v2's binary tensor data extension (Triton's, KServe's)
// that both ends of marina read: marina serve in requests, marina router in answers. One reading of a hostile body's
// framing, so that both refuse the same bytes for the same reasons.
package oip

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// InferenceHeader is the extension's header: the length of the JSON object at the start of a body whose binary
// tensors follow it as raw bytes.
const InferenceHeader = "Inference-Header-Content-Length"

// Split splits body into the JSON at its start and the binary tensor data after it, as header, the value of
// InferenceHeader, says.
func Split(body []byte, header string) (jsonPart, rest []byte, err error) {
	n, err := strconv.ParseInt(header, 10, 64)
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("header %s: %q is not a number of bytes", InferenceHeader, header)
	case n < 0:
		return nil, nil, fmt.Errorf("header %s: %d is negative", InferenceHeader, n)
	case n > int64(len(body)):
		return nil, nil, fmt.Errorf("header %s: %d is more than the body's %d bytes", InferenceHeader, n, len(body))
	}
	return body[:n], body[n:], nil
}

// Strings decodes the n BYTES elements that fill b exactly, each a 4-byte little-endian length and then its bytes.
// n is checked against b's length before anything is allocated.
func Strings(b []byte, n int64) ([]string, error) {
	if n < 0 || n > int64(len(b)/4) {
		return nil, fmt.Errorf("%d bytes are too few for %d BYTES elements (4 bytes of length each at least)", len(b), n)
	}
	strs := make([]string, 0, n)
	for i := range n {
		if len(b) < 4 {
			return nil, fmt.Errorf("binary data ends within BYTES element %d's length", i)
		}
		size := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(size) > uint64(len(b)) {
			return nil, fmt.Errorf("BYTES element %d is %d bytes long, only %d bytes are left", i, size, len(b))
		}
		strs = append(strs, string(b[:size]))
		b = b[size:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes are left after the %d BYTES elements", len(b), n)
	}
	return strs, nil
}
