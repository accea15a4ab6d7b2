package check

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/serve"
)

// MaxSampleSize caps one sample request, as marina serve caps a request body.
const MaxSampleSize = serve.DefaultMaxBody

// maxGenerated caps the elements of one generated input.
const maxGenerated = 1 << 26

// SamplesDir is the directory of a model's sample requests.
func SamplesDir(name string) string { return path.Join(model.Dir, name, "samples") }

// Sample is one sample request: an Open Inference Protocol v2 inference request body, as a client would POST it
// to marina serve, and its file name for messages.
type Sample struct {
	Name string
	Data []byte
}

// ReadSamples reads models/<name>/samples/*.json in name order; none is an empty set.
func ReadSamples(r *repo.Repo, name string) ([]Sample, error) {
	return readFiles(r, SamplesDir(name), ".json", MaxSampleSize, func(p string, data []byte) Sample { return Sample{Name: p, Data: data} })
}

// ParseInputShapes reads --input-shape values, NAME=D1,D2,… each (NAME= for a scalar). The name is everything
// before the last "=", so names such as onnx::Flatten_0 need no quoting.
func ParseInputShapes(values []string) (map[string][]int64, error) {
	out := map[string][]int64{}
	for _, v := range values {
		i := strings.LastIndex(v, "=")
		if i <= 0 {
			return nil, fmt.Errorf("--input-shape %q: want NAME=D1,D2,… (NAME= for a scalar)", v)
		}
		name, dims := v[:i], v[i+1:]
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--input-shape: input %q given twice", name)
		}
		shape := []int64{}
		if dims != "" {
			for _, d := range strings.Split(dims, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(d), 10, 64)
				if err != nil || n < 1 {
					return nil, fmt.Errorf("--input-shape %q: dimension %q is not a whole number of at least 1", v, d)
				}
				shape = append(shape, n)
			}
		}
		out[name] = shape
	}
	return out, nil
}

// smoke runs the smoke inference and returns its step, with the inputs it used when it passed (nil when it could
// not run). With --input-shape it runs generated inputs of those shapes; else the sample requests, when the model
// has some; else generated inputs with a leading dynamic (batch) dimension of 1. A dynamic dimension elsewhere is
// unknown: the step is skipped, saying so, rather than failing the model on a guessed shape.
func smoke(sess *inference.Session, samples []Sample, shapes map[string][]int64, samplesDir string) ([]inference.Tensor, Step) {
	s := Step{Name: StepSmoke}
	if len(shapes) == 0 && len(samples) > 0 {
		var first []inference.Tensor
		for _, sample := range samples {
			inputs, err := serve.DecodeInputs(sample.Data, sess.Inputs(), sess.Outputs())
			if err == nil {
				_, err = sess.Run(inputs)
			}
			if err != nil {
				s.Message = fmt.Sprintf("inference on %s failed: %v", sample.Name, err)
				return nil, s
			}
			if first == nil {
				first = inputs
			}
		}
		s.Passed, s.Message = true, fmt.Sprintf("inference on %d sample request(s) of %s succeeded", len(samples), samplesDir)
		return first, s
	}
	inputs, unknown, err := generate(sess.Inputs(), shapes)
	switch {
	case err != nil:
		s.Message = err.Error()
		return nil, s
	case unknown != "":
		s.Passed, s.Skipped = true, true
		s.Message = fmt.Sprintf("cannot smoke-test without a shape: %s; pass --input-shape NAME=D1,D2,… or add sample requests "+
			"(Open Inference Protocol v2 request bodies, *.json) under %s", unknown, samplesDir)
		return nil, s
	}
	if _, err := sess.Run(inputs); err != nil {
		s.Message = fmt.Sprintf("inference on generated inputs (%s) failed: %v", describe(inputs), err)
		return nil, s
	}
	s.Passed, s.Message = true, fmt.Sprintf("inference on generated inputs (%s) succeeded", describe(inputs))
	return inputs, s
}

// generate makes deterministic inputs of the given shapes, else of the declared ones with a leading dynamic
// dimension of 1. unknown names the inputs that still have a dynamic dimension.
func generate(specs []model.Tensor, shapes map[string][]int64) (inputs []inference.Tensor, unknown string, err error) {
	var missing []string
	for _, spec := range specs {
		shape, given := shapes[spec.Name]
		switch {
		case given:
		case spec.Shape == nil:
			missing = append(missing, fmt.Sprintf("input %q has no declared shape", spec.Name))
			continue
		default:
			shape = slices.Clone(spec.Shape)
			if len(shape) > 0 && shape[0] < 0 {
				shape[0] = 1
			}
			if slices.ContainsFunc(shape, func(d int64) bool { return d < 0 }) {
				missing = append(missing, fmt.Sprintf("input %q is %s", spec.Name, inference.FormatShape(spec.Shape)))
				continue
			}
		}
		t, err := values(spec, shape)
		if err != nil {
			return nil, "", err
		}
		inputs = append(inputs, t)
	}
	return inputs, strings.Join(missing, ", "), nil
}

// ErrInputShape marks an --input-shape that the model contradicts: a usage error, not a broken model.
var ErrInputShape = errors.New("--input-shape does not fit the model")

// checkShapes checks each --input-shape against the model's inputs: a named input, of the same rank, with the
// same fixed dimensions.
func checkShapes(specs []model.Tensor, shapes map[string][]int64) error {
	for name := range shapes {
		if !slices.ContainsFunc(specs, func(s model.Tensor) bool { return s.Name == name }) {
			return fmt.Errorf("%w: the model has no input %q (its inputs: %s)", ErrInputShape, name, inputNames(specs))
		}
	}
	for _, spec := range specs {
		shape, given := shapes[spec.Name]
		if !given || spec.Shape == nil {
			continue
		}
		if len(shape) != len(spec.Shape) {
			return fmt.Errorf("%w: %s=%s: the model's input is %s, of rank %d", ErrInputShape, spec.Name, dims(shape), inference.FormatShape(spec.Shape), len(spec.Shape))
		}
		for i, d := range spec.Shape {
			if d >= 0 && shape[i] != d {
				return fmt.Errorf("%w: %s=%s: the model's input is %s: dimension %d must be %d", ErrInputShape, spec.Name, dims(shape), inference.FormatShape(spec.Shape), i, d)
			}
		}
	}
	return nil
}

// values fills a tensor of shape with a repeating pattern in spec's dtype.
func values(spec model.Tensor, shape []int64) (inference.Tensor, error) {
	n := int64(1)
	for _, d := range shape {
		if n > maxGenerated/d {
			return inference.Tensor{}, fmt.Errorf("input %q of shape %s has more than %d elements; marina generates at most that: pass a smaller --input-shape", spec.Name, dims(shape), maxGenerated)
		}
		n *= d
	}
	t := inference.Tensor{Name: spec.Name, DType: spec.DType, Shape: shape}
	for i := range n {
		switch spec.DType {
		case inference.Float32, inference.Float16:
			t.Float32 = append(t.Float32, float32(i%7)/7)
		case inference.Int64:
			t.Int64 = append(t.Int64, i%7)
		case inference.Bool:
			t.Bool = append(t.Bool, i%2 == 0)
		case inference.String:
			t.String = append(t.String, strconv.FormatInt(i%7, 10))
		default:
			return inference.Tensor{}, fmt.Errorf("input %q has dtype %s; marina generates %s inputs", spec.Name, spec.DType, inference.DTypes)
		}
	}
	return t, nil
}

func describe(inputs []inference.Tensor) string {
	parts := make([]string, len(inputs))
	for i, t := range inputs {
		parts[i] = t.Name + " " + inference.FormatShape(t.Shape)
	}
	return strings.Join(parts, ", ")
}

func inputNames(specs []model.Tensor) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = strconv.Quote(s.Name)
	}
	return strings.Join(names, ", ")
}

// dims writes a shape as --input-shape takes it.
func dims(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return strings.Join(parts, ",")
}
