// Package inference runs ONNX models in ONNX Runtime (loaded at run time from libonnxruntime.so.1 through
// github.com/yalue/onnxruntime_go): one Session per model file, safe for concurrent Run, with inputs checked against
// the model's signature before they reach the runtime.
package inference
