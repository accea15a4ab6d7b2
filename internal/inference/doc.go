// Package inference runs ONNX models in ONNX Runtime (loaded at run time from libonnxruntime.so.1 through
// github.com/yalue/onnxruntime_go): one Session per model file, safe for concurrent Run, with inputs checked against
// the model's signature before they reach the runtime.
//
// ONNX Runtime needs cgo. A build without it (CGO_ENABLED=0: the static marina of the CLI, controller and router
// image) keeps the package's types and input checks, and every entry point that would reach the runtime returns
// ErrNotInBuild; marina-serve and a marina built with cgo have the runtime.
package inference
