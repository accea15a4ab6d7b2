// Package inference runs ONNX models in ONNX Runtime (loaded at run time from libonnxruntime.so.1 through
// github.com/yalue/onnxruntime_go): one Session per model file, safe for concurrent Run, with inputs checked against
// the model's signature before they reach the runtime.
//
// A Tensor carries float32, float16, int64, bool and string values, scalars (rank 0) included. What ONNX Runtime's
// Go binding cannot carry is refused with ErrUnsupported and the fix: sequence and map values (scikit-learn's
// ZipMap), other dtypes, float16 outputs whose shape the model leaves dynamic, scalars of float16 or string.
// ONNX Runtime's own logger is set to fatal errors only: its errors come back as returned errors, without the
// terminal escapes it colours its log lines with, and reach marina's logger instead of raw stderr.
//
// ONNX Runtime needs cgo. A build without it (CGO_ENABLED=0: the static marina of the CLI, controller and router
// image) keeps the package's types and input checks, and every entry point that would reach the runtime returns
// ErrNotInBuild; marina-serve and a marina built with cgo have the runtime.
package inference
