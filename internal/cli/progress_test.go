package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgressDrawsABarAndEndsTheLine(t *testing.T) {
	var out bytes.Buffer
	p := &progress{out: &out, label: "hashing m.onnx", total: 4 << 20}
	chunk := make([]byte, 1<<20)
	for range 4 {
		p.Write(chunk)
	}
	got := out.String()
	if !strings.Contains(got, "hashing m.onnx [==============================] 100%") || !strings.HasSuffix(got, "\n") {
		t.Fatalf("progress output %q", got)
	}
}

func TestProgressStaysOffWhenNotATerminal(t *testing.T) {
	var errOut bytes.Buffer
	g := &globalOptions{errOut: &errOut}
	w := g.newProgress("x")(1 << 40)
	w.Write(make([]byte, 1<<20))
	if errOut.Len() != 0 {
		t.Fatalf("drew on a non-terminal: %q", errOut.String())
	}
}
