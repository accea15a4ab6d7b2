package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/marina-dev/marina/internal/model/onnxtest"
)

// File names written by generate.
const (
	IrisV1 = "iris-classifier-v1.onnx"
	IrisV2 = "iris-classifier-v2-worse.onnx"
	// IrisV1Retrained is v1's model fitted again on fresh data: different weights, nearly the same answers — the
	// good new version a shadow rollout lets through.
	IrisV1Retrained = "iris-classifier-v1-retrained.onnx"
	VisionGPU       = "vision-gpu.onnx"
	IrisEval        = "iris-eval.csv"
)

// Seeds of the synthetic data; changing one changes the committed models and their accuracies.
const (
	trainSeed  = 1
	evalSeed   = 2
	visionSeed = 3
	// retrainSeed draws the fresh training data of IrisV1Retrained.
	retrainSeed = 4
)

// irisFeatures are the columns of the iris data, in the order the model's input takes them (centimetres).
var irisFeatures = []string{"sepal_length", "sepal_width", "petal_length", "petal_width"}

// irisClasses are the output classes, in the order of the model's output.
var irisClasses = []string{"setosa", "versicolor", "virginica"}

// irisStats are per-class means and standard deviations of Fisher's iris measurements; the synthetic data is drawn
// around them, so the example behaves like the data set everyone knows without shipping it.
var irisStats = [3]struct{ mean, sd [4]float64 }{
	{mean: [4]float64{5.006, 3.428, 1.462, 0.246}, sd: [4]float64{0.352, 0.379, 0.174, 0.105}},
	{mean: [4]float64{5.936, 2.770, 4.260, 1.326}, sd: [4]float64{0.516, 0.314, 0.470, 0.198}},
	{mean: [4]float64{6.588, 2.974, 5.552, 2.026}, sd: [4]float64{0.636, 0.322, 0.552, 0.275}},
}

// File is one generated file.
type File struct {
	Name string
	Size int
	Note string
}

// splitmix64 is a tiny PRNG whose output is fixed by its definition, unlike math/rand's, which may change.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform returns a float64 in [0, 1) with 53 random bits.
func (s *splitmix64) uniform() float64 { return float64(s.next()>>11) / (1 << 53) }

// normal approximates a standard normal by the Irwin–Hall sum of 12 uniforms: plain additions, so every
// platform computes the same value (no transcendental functions).
func (s *splitmix64) normal() float64 {
	var sum float64
	for range 12 {
		sum += s.uniform()
	}
	return sum - 6
}

// example is one labelled iris measurement.
type example struct {
	x     [4]float32
	label int
}

// irisData draws perClass examples of each class, rounded to millimetres like the real measurements; the
// rounding also absorbs any last-bit difference between platforms.
func irisData(seed uint64, perClass int) []example {
	rng := splitmix64(seed)
	var data []example
	for i := range perClass * len(irisStats) {
		c := i % len(irisStats) // interleaved, so a prefix of the set is balanced too
		var e example
		e.label = c
		for f := range 4 {
			v := irisStats[c].mean[f] + irisStats[c].sd[f]*rng.normal()
			e.x[f] = float32(math.Max(0.1, math.Round(v*10)/10))
		}
		data = append(data, e)
	}
	return data
}

// fitIris fits a softmax regression by full-batch gradient descent on the cross-entropy with a little L2, then
// rounds the weights to multiples of 1/256 so the file does not depend on last-bit floating-point behaviour.
func fitIris(train []example) (w [12]float64, b [3]float64) {
	const (
		epochs = 30000 // enough for 0.98 on the eval set; not fully converged, so changing it changes the files
		rate   = 0.05
		l2     = 1e-3
	)
	n := float64(len(train))
	for range epochs {
		var gw [12]float64
		var gb [3]float64
		for _, e := range train {
			var z [3]float64
			for c := range 3 {
				z[c] = b[c]
				for f := range 4 {
					z[c] += float64(e.x[f]) * w[f*3+c]
				}
			}
			p := softmax(z)
			for c := range 3 {
				d := p[c]
				if c == e.label {
					d--
				}
				gb[c] += d / n
				for f := range 4 {
					gw[f*3+c] += d * float64(e.x[f]) / n
				}
			}
		}
		for i := range w {
			w[i] -= rate * (gw[i] + l2*w[i])
		}
		for c := range b {
			b[c] -= rate * gb[c]
		}
	}
	for i := range w {
		w[i] = math.Round(w[i]*256) / 256
	}
	for c := range b {
		b[c] = math.Round(b[c]*256) / 256
	}
	return w, b
}

func softmax(z [3]float64) [3]float64 {
	m := math.Max(z[0], math.Max(z[1], z[2]))
	var p [3]float64
	var sum float64
	for c := range z {
		p[c] = math.Exp(z[c] - m)
		sum += p[c]
	}
	for c := range p {
		p[c] /= sum
	}
	return p
}

// worsen degrades a fit the way a bad retraining might: the petal weights of versicolor and virginica are
// swapped, so the two classes are confused while setosa stays right.
func worsen(w [12]float64) [12]float64 {
	for _, f := range []int{2, 3} {
		w[f*3+1], w[f*3+2] = w[f*3+2], w[f*3+1]
	}
	return w
}

func irisModel(w [12]float64, b [3]float64) onnxtest.Linear {
	l := onnxtest.Linear{Input: "input", Output: "probabilities", InputShape: []int64{4}}
	for _, v := range w {
		l.Weights = append(l.Weights, float32(v))
	}
	for _, v := range b {
		l.Bias = append(l.Bias, float32(v))
	}
	return l
}

// visionModel is the "GPU" example: a 3×32×32 image classified into 10 classes by one linear layer with
// seeded weights. Its behaviour is meaningless; its shape is what GPU scheduling examples need.
func visionModel() onnxtest.Linear {
	const features, classes = 3 * 32 * 32, 10
	rng := splitmix64(visionSeed)
	l := onnxtest.Linear{Input: "image", Output: "logits", InputShape: []int64{3, 32, 32}}
	// 24 random bits scaled by a power of two: exactly representable in float32, the same everywhere.
	small := func() float32 { return (float32(rng.next()>>40) - (1 << 23)) / (1 << 29) }
	for range features * classes {
		l.Weights = append(l.Weights, small())
	}
	for range classes {
		l.Bias = append(l.Bias, small())
	}
	return l
}

// accuracy is the fraction of examples the model classifies right, computed in float32 like a runtime would.
func accuracy(l onnxtest.Linear, data []example) float64 {
	right := 0
	for _, e := range data {
		if onnxtest.Argmax(l.Predict(e.x[:])) == e.label {
			right++
		}
	}
	return float64(right) / float64(len(data))
}

// evalCSV renders the evaluation set: the four features and the class name per row.
func evalCSV(data []example) []byte {
	var sb strings.Builder
	sb.WriteString(strings.Join(irisFeatures, ",") + ",label\n")
	for _, e := range data {
		for _, v := range e.x {
			sb.WriteString(strconv.FormatFloat(float64(v), 'f', 1, 32) + ",")
		}
		sb.WriteString(irisClasses[e.label] + "\n")
	}
	return []byte(sb.String())
}

// irisSets returns the training and evaluation data, each 50 examples per class like the real data set.
func irisSets() (train, eval []example) {
	return irisData(trainSeed, 50), irisData(evalSeed, 50)
}

// generate writes every file into dir and describes them.
func generate(dir string) ([]File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	train, eval := irisSets()
	w, b := fitIris(train)
	v1, v2 := irisModel(w, b), irisModel(worsen(w), b)
	retrained := irisModel(fitIris(irisData(retrainSeed, 50)))
	models := []struct {
		name  string
		model onnxtest.Linear
		note  string
	}{
		{IrisV1, v1, fmt.Sprintf("eval accuracy %.4f", accuracy(v1, eval))},
		{IrisV2, v2, fmt.Sprintf("eval accuracy %.4f", accuracy(v2, eval))},
		{IrisV1Retrained, retrained, fmt.Sprintf("eval accuracy %.4f", accuracy(retrained, eval))},
		{VisionGPU, visionModel(), "image [batch,3,32,32] -> logits [batch,10]"},
	}
	var files []File
	for _, m := range models {
		content, err := m.model.Bytes()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		if err := writeFile(filepath.Join(dir, m.name), content); err != nil {
			return nil, err
		}
		files = append(files, File{Name: m.name, Size: len(content), Note: m.note})
	}
	csv := evalCSV(eval)
	if err := writeFile(filepath.Join(dir, IrisEval), csv); err != nil {
		return nil, err
	}
	files = append(files, File{Name: IrisEval, Size: len(csv), Note: fmt.Sprintf("%d labelled examples", len(eval))})
	return files, nil
}

// writeFile replaces path atomically, so an interrupted run never leaves half a model behind.
func writeFile(path string, content []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
