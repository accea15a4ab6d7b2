package inference

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// RuntimeVersion is the ONNX Runtime release hack/onnxruntime.sh installs and LibPath looks for.
const RuntimeVersion = "1.30.0"

// ErrNoRuntime means the ONNX Runtime shared library could not be loaded.
var ErrNoRuntime = errors.New("ONNX Runtime is not installed")

// LibPath is where the ONNX Runtime library is expected: $ONNXRUNTIME_LIB, else
// ${MARINA_CACHE:-$HOME/.cache/marina}/onnxruntime/1.30.0/libonnxruntime.so.1, where hack/onnxruntime.sh puts it.
func LibPath() string {
	if p := os.Getenv("ONNXRUNTIME_LIB"); p != "" {
		return p
	}
	cache := os.Getenv("MARINA_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		cache = filepath.Join(home, ".cache", "marina")
	}
	return filepath.Join(cache, "onnxruntime", RuntimeVersion, "libonnxruntime.so.1")
}

var (
	initOnce sync.Once
	initErr  error
)

// Init loads the ONNX Runtime library from LibPath once per process; later calls return the first result.
// A library that is missing or cannot be loaded gives an error wrapping ErrNoRuntime.
func Init() error {
	initOnce.Do(func() { initErr = initialize(LibPath()) })
	return initErr
}

func initialize(lib string) error {
	hint := "install it with `bash hack/onnxruntime.sh` or set ONNXRUNTIME_LIB"
	if _, err := os.Stat(lib); err != nil {
		return fmt.Errorf("%w: %s not found: %s", ErrNoRuntime, lib, hint)
	}
	ort.SetSharedLibraryPath(lib)
	// Warnings from ORT's default logger would go to stderr on every session; errors are returned to us anyway.
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("%w: loading %s: %v: %s", ErrNoRuntime, lib, err, hint)
	}
	return nil
}

// Version is the loaded ONNX Runtime's version, or "" before a successful Init.
func Version() string {
	if Init() != nil {
		return ""
	}
	return ort.GetVersion()
}
