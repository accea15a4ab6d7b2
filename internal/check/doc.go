// Package check runs a registered model version in ONNX Runtime and measures it: the artifact resolves and its
// digest matches the metadata, it loads, its inputs and outputs are the declared ones, a smoke inference
// succeeds, latency over N timed runs (p50/p95/p99 after a warm-up), and metrics on the evaluation set of
// models/<model>/eval/*.csv; then the quality gates of marina.yaml judge the measured metrics.
//
// # Smoke inputs
//
// The smoke inference and the latency runs use, in this order of preference: generated inputs of the shapes
// given with --input-shape NAME=D1,D2,… (Options.InputShapes); the sample requests models/<model>/samples/*.json,
// each an Open Inference Protocol v2 inference request body as a client POSTs it to marina serve (all are run,
// the first is timed); generated inputs of the declared shapes, a leading dynamic (batch) dimension taken as 1.
// A dynamic dimension anywhere else is a length only the user knows (an audio window, a sequence): the smoke step
// is skipped saying "cannot smoke-test without a shape", rather than failing a valid model on a guessed shape.
//
// # Evaluation set format
//
// Every models/<model>/eval/*.csv is read (in name order) and pooled into one set. Each file is CSV with a header
// row: one column per input feature, in the order the model's input expects them, then a column named label.
// Lines starting with # are comments. The model must have one float32 input of shape [batch, features].
//
//   - Classification (the output is [batch, C] with C > 1, probabilities or logits; the prediction is the argmax):
//     label is the class index 0..C-1, or a class name. Names map to indices through a comment line
//     "# classes: name0,name1,…" when the file has one, else in sorted order (as scikit-learn's LabelEncoder
//     does). Metrics: accuracy (top-1) and f1 (macro-averaged over the classes seen in labels or predictions).
//   - Regression (the output is [batch, 1]): label is the float target. Metric: mae.
//
// Example:
//
//	# classes: setosa,versicolor,virginica
//	sepal_length,sepal_width,petal_length,petal_width,label
//	5.1,3.5,1.4,0.2,setosa
package check
