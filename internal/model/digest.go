package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
)

// DigestPrefix is the algorithm prefix of every digest marina writes.
const DigestPrefix = "sha256:"

// digestBufSize is large enough that the per-Read overhead (syscall, bookkeeping) is negligible next to hashing,
// and small enough that hashing a multi-GB model stays at a constant, small footprint.
const digestBufSize = 1 << 20

// digestBufs reuses the read buffers across calls: registering many files must not allocate 1 MiB each time.
var digestBufs = sync.Pool{New: func() any { b := make([]byte, digestBufSize); return &b }}

// Digest reads r once to its end and returns "sha256:<hex>" of its content and the number of bytes read.
// Memory use is constant in the size of the input.
func Digest(r io.Reader) (digest string, size int64, err error) {
	bp := digestBufs.Get().(*[]byte)
	defer digestBufs.Put(bp)
	h := sha256.New()
	// io.CopyBuffer would hand h to r.WriteTo when r has one (os.File does, via sendfile/splice fallbacks),
	// bypassing our buffer; hiding both methods keeps the single reused buffer on the hot path.
	size, err = io.CopyBuffer(struct{ io.Writer }{h}, struct{ io.Reader }{r}, *bp)
	if err != nil {
		return "", size, err
	}
	return DigestPrefix + hex.EncodeToString(h.Sum(nil)), size, nil
}

// DigestFile returns the digest and size of the file at path; errors name the file.
func DigestFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err // *PathError already names the file.
	}
	defer f.Close()
	d, n, err := Digest(f)
	if err != nil {
		return "", n, fmt.Errorf("%s: computing digest: %w", path, err)
	}
	return d, n, nil
}
