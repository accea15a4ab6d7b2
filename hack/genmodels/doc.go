// Command genmodels writes marina's example ONNX models and the iris evaluation set, byte for byte the same on
// every run:
//
//	go run ./hack/genmodels -out DIR
//
// The models are real ONNX files (linear softmax classifiers built from the ONNX protobuf types), small enough to
// commit and to serve in tests. The iris weights are fit by gradient descent on a synthetic, seeded data set, so the
// evaluation set gives a known accuracy: see the accuracy constants in the tests.
package main
