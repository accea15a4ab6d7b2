// Package inferencetest loads ONNX Runtime for tests that need it.
package inferencetest
