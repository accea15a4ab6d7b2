package check

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestEvalSetsMapLabelsToClassIndices(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		files   []string
		want    []int
		wantErr string
	}{
		{name: "integer labels are class indices", files: []string{"a,b,label\n1,2,2\n3,4,0\n"}, want: []int{2, 0}},
		{name: "class names map in sorted order", files: []string{"a,label\n1,virginica\n2,setosa\n3,versicolor\n"}, want: []int{2, 0, 1}},
		{name: "a classes comment sets the order", files: []string{"# classes: b, a\na,label\n1,a\n2,b\n"}, want: []int{1, 0}},
		{name: "files with the same header are pooled", files: []string{"x,label\n1,0\n", "# more\nx,label\n\n2,1\n"}, want: []int{0, 1}},
		{name: "a class index beyond the outputs is refused", files: []string{"x,label\n1,3\n"}, wantErr: "outputs 3 classes"},
		{name: "a name missing from the classes comment is refused", files: []string{"# classes: a,b\nx,label\n1,c\n"}, wantErr: `label "c"`},
		{name: "the label column must be last", files: []string{"label,x\n1,0\n"}, wantErr: `"label" as the last column`},
		{name: "a feature must be a number", files: []string{"x,label\n\n1e400,0\n"}, wantErr: "f0.csv:3: column x"},
		{name: "different headers are refused", files: []string{"x,label\n1,0\n", "y,label\n1,0\n"}, wantErr: "differ"},
		{name: "an empty set is refused", files: []string{"x,label\n"}, wantErr: "no examples"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var files []EvalFile
			for i, f := range c.files {
				files = append(files, EvalFile{Name: "f" + string(rune('0'+i)) + ".csv", Data: []byte(f)})
			}
			set, err := ParseEval(files)
			var got []int
			if err == nil {
				got, err = set.classIndices(3)
			}
			switch {
			case c.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !slices.Equal(got, c.want):
				t.Fatalf("classes = %v, want %v", got, c.want)
			}
		})
	}
}

func TestMetricsMatchHandComputedValues(t *testing.T) {
	t.Parallel()
	labels := []int{0, 0, 1, 1, 2, 2}
	pred := []int{0, 1, 1, 1, 2, 0}
	cases := []struct {
		name      string
		got, want float64
	}{
		{"accuracy is the share of correct predictions", Accuracy(labels, pred), 4.0 / 6},
		// class 0: tp1 fp1 fn1 → 0.5; class 1: tp2 fp1 fn0 → 0.8; class 2: tp1 fp0 fn1 → 2/3
		{"macro F1 averages the per-class F1", MacroF1(labels, pred), (0.5 + 0.8 + 2.0/3) / 3},
		{"a perfect classifier has F1 1", MacroF1(labels, labels), 1},
		{"MAE is the mean absolute error", MAE([]float64{1, 2, 3}, []float64{1.5, 2, 1}), 2.5 / 3},
		{"p50 of 1..100 is 50", Percentile(seq(100), 50), 50},
		{"p95 of 1..100 is 95", Percentile(seq(100), 95), 95},
		{"p99 of 1..10 is the maximum", Percentile(seq(10), 99), 10},
		{"a percentile of one run is that run", Percentile([]float64{7}, 50), 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if math.Abs(c.got-c.want) > 1e-12 {
				t.Fatalf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}

func FuzzParseEval(f *testing.F) {
	f.Add([]byte("# classes: a,b\nx,y,label\n1,2,a\n"))
	f.Add([]byte("x,label\n1,\"2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseEval([]EvalFile{{Name: "f.csv", Data: data}})
		if err != nil {
			return
		}
		if len(set.X) != len(set.Labels) {
			t.Fatalf("%d rows, %d labels", len(set.X), len(set.Labels))
		}
		_, _ = set.classIndices(4)
		_, _ = set.targets()
	})
}
