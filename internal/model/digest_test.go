package model

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDigest(t *testing.T) {
	t.Parallel()
	long := bytes.Repeat([]byte("0123456789"), (2*digestBufSize+12345)/10)
	tests := []struct {
		name     string
		input    io.Reader
		wantSize int64
		want     string
	}{
		{
			name:  "digest of empty input is the SHA-256 of nothing",
			input: strings.NewReader(""),
			want:  "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		},
		{
			name:     "digest of abc matches the FIPS 180-2 vector",
			input:    strings.NewReader("abc"),
			wantSize: 3,
			want:     "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		},
		{
			name:     "digest of the 448-bit FIPS 180-2 message crosses a block boundary",
			input:    strings.NewReader("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
			wantSize: 56,
			want:     "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
		},
		{
			name:     "digest of a million a's spans several buffer fills of a one-byte reader",
			input:    iotest.OneByteReader(strings.NewReader(strings.Repeat("a", 1_000_000))),
			wantSize: 1_000_000,
			want:     "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
		},
		{
			name:     "digest of input longer than two buffers equals the one-shot SHA-256",
			input:    bytes.NewReader(long),
			wantSize: int64(len(long)),
			want:     fmt.Sprintf("sha256:%x", sha256.Sum256(long)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, size, err := Digest(tt.input)
			if err != nil {
				t.Fatalf("Digest: %v", err)
			}
			if got != tt.want || size != tt.wantSize {
				t.Errorf("Digest = %q, %d; want %q, %d", got, size, tt.want, tt.wantSize)
			}
		})
	}
}

func TestDigestReturnsReadErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	if _, _, err := Digest(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("Digest error = %v, want %v", err, boom)
	}
}

func TestDigestFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	content := strings.Repeat("abc", 3*digestBufSize/2) // several buffer fills, not a multiple of the buffer
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	want, wantSize, err := Digest(strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantErr bool
	}{
		{name: "digest of a file equals the digest of its content", path: path},
		{name: "digest of a missing file is an error naming the file", path: filepath.Join(dir, "missing.onnx"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, size, err := DigestFile(tt.path)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.path) {
					t.Fatalf("DigestFile error = %v, want an error naming %s", err, tt.path)
				}
				return
			}
			if err != nil {
				t.Fatalf("DigestFile: %v", err)
			}
			if got != want || size != wantSize {
				t.Errorf("DigestFile = %q, %d; want %q, %d", got, size, want, wantSize)
			}
		})
	}
}

func BenchmarkDigest(b *testing.B) {
	data := make([]byte, 64<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := Digest(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
