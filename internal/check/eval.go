package check

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// LabelColumn is the header of the evaluation set's target column.
const LabelColumn = "label"

// MaxEvalFileSize caps one evaluation file.
const MaxEvalFileSize = 64 << 20

// EvalFile is one evaluation file's name (for messages) and content.
type EvalFile struct {
	Name string
	Data []byte
}

// EvalSet is the pooled, parsed evaluation set.
type EvalSet struct {
	// Files are the names of the files read.
	Files []string
	// Features are the feature column names, in order.
	Features []string
	// X holds len(Labels) rows of len(Features) values.
	X [][]float32
	// Labels are the raw label cells, one per row.
	Labels []string
	// Classes, when a file names them with "# classes:", maps names to indices.
	Classes []string
}

// ParseEval reads and pools evaluation files; all must have the same header.
func ParseEval(files []EvalFile) (*EvalSet, error) {
	set := &EvalSet{}
	for _, f := range files {
		if err := set.parse(f); err != nil {
			return nil, err
		}
	}
	if len(set.Labels) == 0 {
		return nil, fmt.Errorf("%s: no examples", strings.Join(set.Files, ", "))
	}
	return set, nil
}

func (s *EvalSet) parse(f EvalFile) error {
	s.Files = append(s.Files, f.Name)
	var body bytes.Buffer
	lineNo := map[int]int{} // csv record line → file line, for messages
	n := 0
	for i, line := range strings.Split(string(f.Data), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") {
			if names, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(t, "#")), "classes:"); ok {
				var classes []string
				for c := range strings.SplitSeq(names, ",") {
					classes = append(classes, strings.TrimSpace(c))
				}
				if s.Classes != nil && !slices.Equal(s.Classes, classes) {
					return fmt.Errorf("%s:%d: classes %v differ from %v in an earlier file", f.Name, i+1, classes, s.Classes)
				}
				s.Classes = classes
			}
			continue
		}
		if t == "" {
			continue
		}
		n++
		lineNo[n] = i + 1
		body.WriteString(line)
		body.WriteByte('\n')
	}
	r := csv.NewReader(&body)
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("%s: reading the header: %w", f.Name, err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	if len(header) < 2 || header[len(header)-1] != LabelColumn {
		return fmt.Errorf("%s:%d: the header must list the feature columns, then %q as the last column; it is %q", f.Name, lineNo[1], LabelColumn, strings.Join(header, ","))
	}
	features := header[:len(header)-1]
	if s.Features == nil {
		s.Features = features
	} else if !slices.Equal(s.Features, features) {
		return fmt.Errorf("%s:%d: feature columns %v differ from %v in %s", f.Name, lineNo[1], features, s.Features, s.Files[0])
	}
	for rec := 2; ; rec++ {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", f.Name, lineNo[rec], err)
		}
		x := make([]float32, len(features))
		for i := range features {
			v, err := strconv.ParseFloat(strings.TrimSpace(row[i]), 32)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s:%d: column %s: %q is not a finite number", f.Name, lineNo[rec], features[i], row[i])
			}
			x[i] = float32(v)
		}
		s.X = append(s.X, x)
		s.Labels = append(s.Labels, strings.TrimSpace(row[len(features)]))
	}
}

// classIndices maps the labels to class indices below c.
func (s *EvalSet) classIndices(c int) ([]int, error) {
	out := make([]int, len(s.Labels))
	allInts := true
	for i, l := range s.Labels {
		n, err := strconv.Atoi(l)
		if err != nil {
			allInts = false
			break
		}
		out[i] = n
	}
	if !allInts {
		classes := s.Classes
		if classes == nil {
			seen := map[string]bool{}
			for _, l := range s.Labels {
				if !seen[l] {
					seen[l] = true
					classes = append(classes, l)
				}
			}
			slices.Sort(classes)
		}
		idx := map[string]int{}
		for i, c := range classes {
			idx[c] = i
		}
		for i, l := range s.Labels {
			n, ok := idx[l]
			if !ok {
				return nil, fmt.Errorf("label %q of example %d is not in the classes %v", l, i+1, classes)
			}
			out[i] = n
		}
	}
	for i, n := range out {
		if n < 0 || n >= c {
			return nil, fmt.Errorf("label %q of example %d is class %d, but the model outputs %d classes", s.Labels[i], i+1, n, c)
		}
	}
	return out, nil
}

// targets parses the labels as regression targets.
func (s *EvalSet) targets() ([]float64, error) {
	out := make([]float64, len(s.Labels))
	for i, l := range s.Labels {
		v, err := strconv.ParseFloat(l, 64)
		if err != nil {
			return nil, fmt.Errorf("label %q of example %d is not a number (the model has one output value, so it is a regression)", l, i+1)
		}
		out[i] = v
	}
	return out, nil
}

// Argmax is the index of the largest value (the first on ties).
func Argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// Accuracy is the share of predictions equal to their label.
func Accuracy(labels, predictions []int) float64 {
	correct := 0
	for i := range labels {
		if labels[i] == predictions[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(labels))
}

// MacroF1 is the unweighted mean of the per-class F1 scores over the classes that occur in labels or predictions.
func MacroF1(labels, predictions []int) float64 {
	type counts struct{ tp, fp, fn int }
	per := map[int]*counts{}
	get := func(c int) *counts {
		if per[c] == nil {
			per[c] = &counts{}
		}
		return per[c]
	}
	for i := range labels {
		if labels[i] == predictions[i] {
			get(labels[i]).tp++
			continue
		}
		get(labels[i]).fn++
		get(predictions[i]).fp++
	}
	if len(per) == 0 {
		return 0
	}
	sum := 0.0
	for _, c := range per {
		if d := 2*c.tp + c.fp + c.fn; d > 0 {
			sum += 2 * float64(c.tp) / float64(d)
		}
	}
	return sum / float64(len(per))
}

// MAE is the mean absolute error.
func MAE(targets, predictions []float64) float64 {
	sum := 0.0
	for i := range targets {
		sum += math.Abs(targets[i] - predictions[i])
	}
	return sum / float64(len(targets))
}
