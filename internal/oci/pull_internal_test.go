package oci

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestCopyHashingWritesAndHashesEveryByteAndKeepsAShortReadAnError(t *testing.T) {
	t.Parallel()
	data := make([]byte, 3<<20+12345) // three whole buffers and a part
	_, _ = rand.Read(data)
	for _, tc := range []struct {
		name string
		r    io.Reader
		want []byte
	}{
		{"whole reads", bytes.NewReader(data), data},
		{"a byte at a time", iotest.OneByteReader(bytes.NewReader(data[:70000])), data[:70000]},
		{"the last bytes with io.EOF", iotest.DataErrReader(bytes.NewReader(data)), data},
		{"nothing", bytes.NewReader(nil), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var w bytes.Buffer
			h := sha256.New()
			if err := copyHashing(&w, tc.r, h); err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256(tc.want); !bytes.Equal(w.Bytes(), tc.want) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("wrote %d of %d bytes, hashed %x, want %x", w.Len(), len(tc.want), h.Sum(nil), want)
			}
		})
	}

	// A layer cut short: tar's io.ErrUnexpectedEOF is the error, not the end of the file.
	cut := io.MultiReader(bytes.NewReader(data[:1<<20+5]), iotest.ErrReader(io.ErrUnexpectedEOF))
	if err := copyHashing(io.Discard, cut, sha256.New()); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a reader that fails with io.ErrUnexpectedEOF: %v", err)
	}
	// A writer that fails stops the copy with its error.
	failing := errors.New("disk full")
	if err := copyHashing(errWriter{failing}, bytes.NewReader(data), sha256.New()); !errors.Is(err, failing) {
		t.Errorf("a writer that fails: %v", err)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }
