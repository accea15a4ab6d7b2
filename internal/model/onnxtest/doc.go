// Package onnxtest builds small, real ONNX models (linear softmax classifiers) from the ONNX protobuf types of
// package onnxpb, for tests and for hack/genmodels, which writes the example models.
package onnxtest
