package inference

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
)

// RuntimeVersion is the ONNX Runtime release hack/onnxruntime.sh installs and LibPath looks for.
const RuntimeVersion = "1.30.0"

// ErrNoRuntime means the ONNX Runtime shared library could not be loaded.
var ErrNoRuntime = errors.New("ONNX Runtime is not installed")

// ErrNotInBuild means this binary was built without cgo (CGO_ENABLED=0), which ONNX Runtime needs: every entry
// point of this package returns it there. It also matches ErrNoRuntime, so callers that handle a missing library
// handle this too.
var ErrNotInBuild error = notInBuild{}

type notInBuild struct{}

func (notInBuild) Error() string {
	return "this marina was built without cgo: ONNX Runtime is not in this build; " +
		"use marina-serve (the model server's image) or a marina built with cgo (CGO_ENABLED=1 go build ./cmd/marina)"
}

func (notInBuild) Is(target error) bool { return target == ErrNoRuntime }

// LibPath is where the ONNX Runtime library is expected: $ONNXRUNTIME_LIB, else CacheLibPath.
func LibPath() string {
	if p := os.Getenv("ONNXRUNTIME_LIB"); p != "" {
		return p
	}
	return CacheLibPath()
}

// CacheLibPath is CacheDir()/onnxruntime/1.30.0/libonnxruntime.so.1, where marina runtime install and
// hack/onnxruntime.sh put the library.
func CacheLibPath() string {
	return filepath.Join(CacheDir(), "onnxruntime", RuntimeVersion, "libonnxruntime.so.1")
}

// CacheDir is where the hack/ scripts install what marina runs against: ${MARINA_CACHE:-$HOME/.cache/marina}.
func CacheDir() string {
	if cache := os.Getenv("MARINA_CACHE"); cache != "" {
		return cache
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".cache", "marina")
}

var (
	initOnce sync.Once
	initErr  error
)

// Init loads the ONNX Runtime library from LibPath once per process; later calls return the first result.
// A library that is missing or cannot be loaded gives an error wrapping ErrNoRuntime; a build without cgo gives
// ErrNotInBuild.
func Init() error {
	initOnce.Do(func() { initErr = initialize(LibPath()) })
	return initErr
}

// Version is the loaded ONNX Runtime's version, or "" before a successful Init.
func Version() string {
	if Init() != nil {
		return ""
	}
	return runtimeVersion()
}
