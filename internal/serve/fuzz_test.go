package serve

import (
	"errors"
	"testing"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/model"
)

// FuzzDecodeInferRequest: no request body panics the decoder, and whatever it accepts fits the model's inputs.
func FuzzDecodeInferRequest(f *testing.F) {
	for _, seed := range []string{
		`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`,
		`{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,7,8]]}],"outputs":[{"name":"probabilities"}]}`,
		`{"inputs":[{"name":"ids","shape":[1,2],"datatype":"INT64","data":[[1,2]]}]}`,
		`{"inputs":[{"name":"input","shape":[9223372036854775807,4],"datatype":"FP32","data":[1]}]}`,
		`{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[[[[[1]]]]]}]}`,
		`{"instances":[[1,2,3,4]]}`,
		`{"inputs":[{"name":"sr","shape":[],"datatype":"INT64","data":16000}]}`,
		`{"inputs":[{"name":"sr","shape":[],"datatype":"INT64","data":[16000]}]}`,
		`{"inputs":[{"name":"mask","shape":[2],"datatype":"BOOL","data":[true,false]},{"name":"words","shape":[1,1],"datatype":"BYTES","data":[["émeu"]]}]}`,
		`{"inputs":[{"name":"half","shape":[1],"datatype":"FP16","data":[1e9]}]}`,
		`[]`, `{`, `null`,
	} {
		f.Add([]byte(seed))
	}
	inputs := []model.Tensor{
		{Name: "input", DType: "float32", Shape: []int64{-1, 4}}, {Name: "ids", DType: "int64", Shape: []int64{-1, -1}},
		{Name: "sr", DType: "int64", Shape: []int64{}}, {Name: "mask", DType: "bool", Shape: []int64{-1}},
		{Name: "words", DType: "string", Shape: nil}, {Name: "half", DType: "float16", Shape: []int64{-1}},
	}
	outputs := []model.Tensor{{Name: "probabilities", DType: "float32", Shape: []int64{-1, 3}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := decodePredictRequest(body, inputs[0]); err != nil && !errors.Is(err, errBadRequest) && !errors.Is(err, inference.ErrBadInput) {
			t.Fatalf("predict error %v wraps neither errBadRequest nor ErrBadInput", err)
		}
		req, err := decodeInferRequest(body, inputs, outputs)
		if err != nil {
			if !errors.Is(err, errBadRequest) && !errors.Is(err, inference.ErrBadInput) {
				t.Fatalf("error %v wraps neither errBadRequest nor ErrBadInput", err)
			}
			return
		}
		for _, in := range req.Inputs {
			decl, _ := find(inputs, in.Name)
			if err := inference.CheckTensor(decl, in); err != nil {
				t.Fatalf("accepted an input that does not fit: %v", err)
			}
		}
	})
}
