package model

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Model file formats, as written in the metadata's format field.
const (
	FormatONNX        = "onnx"
	FormatTorchScript = "torchscript"
	FormatSavedModel  = "savedmodel"
	FormatOther       = "other"
)

// Tensor is one named input or output of a model.
type Tensor struct {
	Name string `json:"name"`
	// DType is the element type: "float32", "int64", "string", … (see onnxDTypes); "sequence", "map" and
	// "optional" for the non-tensor ONNX types, whose Shape is nil.
	DType string `json:"dtype"`
	// Shape has -1 for a dynamic or symbolic dimension; nil means the rank is unknown, empty means a scalar.
	Shape []int64 `json:"shape"`
}

// Inspection is what Inspect learns from a model file without running it.
type Inspection struct {
	// Format is one of FormatONNX, FormatTorchScript, FormatSavedModel, FormatOther.
	Format string
	// Opset, IRVersion, Producer, Inputs and Outputs are only read for ONNX; Opset is the default domain's.
	Opset     int64
	IRVersion int64
	Producer  string
	Inputs    []Tensor
	Outputs   []Tensor

	// notONNX says why content detected as FormatOther is not an ONNX model, for CheckName.
	notONNX error
}

// CheckName refuses a file whose name promises ONNX (".onnx") but whose content is not an ONNX model, with
// the reason it does not parse: a mistyped path or a text file must not be recorded as format "other".
func (in Inspection) CheckName(path string) error {
	if !strings.EqualFold(filepath.Ext(path), ".onnx") || in.Format == FormatONNX {
		return nil
	}
	why := "it is a zip archive"
	switch {
	case in.Format != FormatOther:
		why = "it is a " + in.Format + " model"
	case in.notONNX != nil:
		why = in.notONNX.Error()
	}
	return fmt.Errorf("%w: %s is named .onnx but does not parse as an ONNX model: %s (check the path, or export the model to ONNX again)", ErrMalformedONNX, path, why)
}

// ErrMalformedONNX is returned for a file that starts like an ONNX model but cannot be read as one.
var ErrMalformedONNX = errors.New("malformed ONNX model")

// maxZipEntries bounds the work spent listing an archive; a TorchScript archive has one entry per tensor
// plus a few, far below this.
const maxZipEntries = 1 << 20

// Inspect detects the format of the model at path from its content (never its name) and, for ONNX, reads its
// signature. path may be a directory (a SavedModel). Detection is deliberately simple:
//
//   - onnx: a protobuf ModelProto with ir_version and a graph; read by walking the wire format, so the weights
//     are skipped, not loaded.
//   - torchscript: a zip archive with a "<root>/code/" directory or a constants.pkl / data.pkl entry. A plain
//     torch.save checkpoint (data.pkl only) is reported as torchscript too.
//   - savedmodel: a directory holding saved_model.pb or saved_model.pbtxt. A lone saved_model.pb file is
//     "other": its variables live beside it, so it is not a model on its own.
//   - other: anything else, including unreadable archives.
//
// A file that starts like ONNX (ir_version first, as every exporter writes it) but is truncated or corrupt is an
// error wrapping ErrMalformedONNX, not "other": registering half an upload must fail loudly.
func Inspect(path string) (Inspection, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Inspection{}, err // *PathError names the file.
	}
	if fi.IsDir() {
		return Inspection{Format: dirFormat(path)}, nil
	}
	if !fi.Mode().IsRegular() {
		return Inspection{}, fmt.Errorf("%s: not a regular file or directory", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return Inspection{}, err
	}
	defer f.Close()
	in, err := inspectReader(f, fi.Size())
	if err != nil {
		return Inspection{}, fmt.Errorf("%s: %w", path, err)
	}
	return in, nil
}

// inspectReader is Inspect on an open file of the given size; tests and the fuzzer call it on memory.
func inspectReader(r io.ReadSeeker, size int64) (Inspection, error) {
	return inspectReaderLimits(r, size, defaultONNXLimits)
}

func inspectReaderLimits(r io.ReadSeeker, size int64, limits onnxLimits) (Inspection, error) {
	var magic [4]byte
	n, err := io.ReadFull(r, magic[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Inspection{}, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Inspection{}, err
	}
	if bytes.Equal(magic[:n], []byte("PK\x03\x04")) {
		ra, ok := r.(io.ReaderAt)
		if ok && isTorchScript(ra, size) {
			return Inspection{Format: FormatTorchScript}, nil
		}
		return Inspection{Format: FormatOther}, nil
	}
	return inspectONNX(r, size, limits)
}

// isTorchScript reports whether the zip archive holds a TorchScript (or torch.save) layout.
func isTorchScript(r io.ReaderAt, size int64) bool {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return false
	}
	if len(zr.File) > maxZipEntries {
		return false
	}
	for _, f := range zr.File {
		name := strings.TrimPrefix(f.Name, "./")
		root, rest, _ := strings.Cut(name, "/")
		if root == "code" || strings.HasPrefix(rest, "code/") {
			return true
		}
		if base := path.Base(name); base == "constants.pkl" || base == "data.pkl" {
			return true
		}
	}
	return false
}

// dirFormat detects a SavedModel directory; it looks at the entries themselves, not where symlinks point.
func dirFormat(dir string) string {
	for _, name := range []string{"saved_model.pb", "saved_model.pbtxt"} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err == nil && fi.Mode().IsRegular() {
			return FormatSavedModel
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return FormatOther
		}
	}
	return FormatOther
}
