// Package model holds marina's model version metadata and what it reads from model files: content digests, format
// detection and the ONNX signature (opset, inputs, outputs) read without loading the weights.
package model
