// Package check runs a registered model version in ONNX Runtime and measures it: the artifact resolves and its
// digest matches the metadata, it loads, its inputs and outputs are the declared ones, a smoke inference on
// generated inputs succeeds, latency over N timed runs (p50/p95/p99 after a warm-up), and metrics on the
// evaluation set of models/<model>/eval/*.csv; then the quality gates of marina.yaml judge the measured metrics.
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
