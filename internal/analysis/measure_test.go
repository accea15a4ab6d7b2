package analysis_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
)

// answer is what fakeQuerier returns for one query.
type answer struct {
	value    model.Value
	warnings promv1.Warnings
	err      error
}

// fakeQuerier answers each query with the next of its scripted answers (the last one repeats), or blocks until the
// context ends when block is set; it records what it was asked.
type fakeQuerier struct {
	mu       sync.Mutex
	answers  map[string][]answer
	calls    map[string]int
	block    bool
	deadline time.Time
	ts       time.Time
}

func (f *fakeQuerier) Query(ctx context.Context, query string, ts time.Time, _ ...promv1.Option) (model.Value, promv1.Warnings, error) {
	f.mu.Lock()
	f.deadline, _ = ctx.Deadline()
	f.ts = ts
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	n := f.calls[query]
	f.calls[query]++
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return nil, nil, ctx.Err()
	}
	as := f.answers[query]
	if len(as) == 0 {
		return nil, nil, errors.New("unexpected query " + query)
	}
	a := as[min(n, len(as)-1)]
	return a.value, a.warnings, a.err
}

func vector(values ...float64) model.Vector {
	v := make(model.Vector, len(values))
	for i, x := range values {
		v[i] = &model.Sample{Metric: model.Metric{"i": model.LabelValue(fmt.Sprintf("%04d", i))}, Value: model.SampleValue(x)}
	}
	return v
}

func TestMeasureConvertsResultsAndJudgesThemLikeArgoRollouts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	unsorted := model.Vector{
		{Metric: model.Metric{"code": "500"}, Value: 0.25},
		nil,
		{Metric: model.Metric{"code": "200"}, Value: 0.75},
	}
	histogram := model.Vector{{Metric: model.Metric{"__name__": "h"}, Histogram: &model.SampleHistogram{Count: 1}}}
	cases := []struct {
		name             string
		answer           answer
		success, failure string
		wantPhase        v1alpha1.AnalysisPhase
		wantResult       []float64
		wantMessage      string
	}{
		{name: "a vector is ordered by label set", answer: answer{value: unsorted}, success: "result[0] > result[1]",
			wantPhase: v1alpha1.AnalysisSuccessful, wantResult: []float64{0.75, 0.25}, wantMessage: "result [0.75 0.25]"},
		{name: "a scalar is a one-value result", answer: answer{value: &model.Scalar{Value: 0.97}},
			success: "result[0] >= 0.95", wantPhase: v1alpha1.AnalysisSuccessful, wantResult: []float64{0.97}},
		{name: "an empty vector is an empty result", answer: answer{value: model.Vector{}},
			success: "len(result) == 0 || result[0] < 0.01", wantPhase: v1alpha1.AnalysisSuccessful, wantResult: []float64{}},
		{name: "indexing an empty result is an error that says there were no samples", answer: answer{value: model.Vector{}},
			success: "result[0] >= 0.95", wantPhase: v1alpha1.AnalysisError, wantMessage: "no samples"},
		{name: "success holding is Successful", answer: answer{value: vector(0.99)}, success: "result[0] >= 0.95",
			failure: "result[0] < 0.9", wantPhase: v1alpha1.AnalysisSuccessful, wantMessage: `successCondition "result[0] >= 0.95" holds`},
		{name: "failure holding is Failed even when success holds too", answer: answer{value: vector(0.99)},
			success: "result[0] >= 0.95", failure: "result[0] > 0.5", wantPhase: v1alpha1.AnalysisFailed},
		{name: "neither of two conditions holding is Inconclusive", answer: answer{value: vector(0.92)},
			success: "result[0] >= 0.95", failure: "result[0] < 0.9", wantPhase: v1alpha1.AnalysisInconclusive},
		{name: "a lone success condition that does not hold is Failed", answer: answer{value: vector(0.5)},
			success: "result[0] >= 0.95", wantPhase: v1alpha1.AnalysisFailed, wantMessage: "does not hold"},
		{name: "a lone failure condition that does not hold is Successful", answer: answer{value: vector(0.001)},
			failure: "result[0] > 0.01", wantPhase: v1alpha1.AnalysisSuccessful},
		{name: "a lone failure condition that holds is Failed", answer: answer{value: vector(0.2)},
			failure: "result[0] > 0.01", wantPhase: v1alpha1.AnalysisFailed},
		{name: "no condition at all is Successful", answer: answer{value: vector(1)}, wantPhase: v1alpha1.AnalysisSuccessful},
		{name: "NaN fails every comparison: Inconclusive with two conditions", answer: answer{value: vector(math.NaN())},
			success: "result[0] >= 0.95", failure: "result[0] < 0.95", wantPhase: v1alpha1.AnalysisInconclusive,
			wantMessage: "result [NaN]"},
		{name: "NaN fails a lone success condition", answer: answer{value: vector(math.NaN())},
			success: "result[0] >= 0.95", wantPhase: v1alpha1.AnalysisFailed},
		{name: "isNaN lets a condition accept NaN", answer: answer{value: vector(math.NaN())},
			success: "isNaN(result[0]) || result[0] >= 0.95", wantPhase: v1alpha1.AnalysisSuccessful},
		{name: "isInf detects infinities", answer: answer{value: vector(math.Inf(1), math.Inf(-1))},
			failure: "isInf(result[0]) && isInf(result[1])", wantPhase: v1alpha1.AnalysisFailed, wantMessage: "result [+Inf -Inf]"},
		{name: "a condition that is not a bool is an Error", answer: answer{value: vector(1)},
			success: "result[0] + 1", wantPhase: v1alpha1.AnalysisError, wantMessage: `successCondition "result[0] + 1": expected bool`},
		{name: "a condition that does not compile is an Error", answer: answer{value: vector(1)},
			failure: "result[0] >", wantPhase: v1alpha1.AnalysisError, wantMessage: "failureCondition"},
		{name: "more than MaxResultValues series is an Error", answer: answer{value: vector(make([]float64, analysis.MaxResultValues+1)...)},
			success: "true", wantPhase: v1alpha1.AnalysisError, wantMessage: "1001 series, more than 1000: aggregate them"},
		{name: "MaxResultValues series are judged", answer: answer{value: vector(make([]float64, analysis.MaxResultValues)...)},
			success: "len(result) == 1000 && all(result, # == 0)", wantPhase: v1alpha1.AnalysisSuccessful},
		{name: "nested predicates are refused", answer: answer{value: vector(1, 2)},
			success: "all(result, any(result, # > 0))", wantPhase: v1alpha1.AnalysisError, wantMessage: "may not be nested"},
		{name: "predicates one after the other are fine", answer: answer{value: vector(1, 2)},
			success: "all(result, # > 0) && count(result, # > 1) == 1", wantPhase: v1alpha1.AnalysisSuccessful},
		{name: "a range vector is an Error", answer: answer{value: model.Matrix{}}, success: "true",
			wantPhase: v1alpha1.AnalysisError, wantMessage: "range vector"},
		{name: "a string is an Error", answer: answer{value: &model.String{Value: "x"}}, success: "true",
			wantPhase: v1alpha1.AnalysisError, wantMessage: "the result is a string"},
		{name: "no value is an Error", answer: answer{}, success: "true", wantPhase: v1alpha1.AnalysisError,
			wantMessage: "no result"},
		{name: "a native histogram is an Error", answer: answer{value: histogram}, success: "true",
			wantPhase: v1alpha1.AnalysisError, wantMessage: "native histogram"},
		{name: "a query error is an Error", success: "true", wantPhase: v1alpha1.AnalysisError,
			answer:      answer{err: &promv1.Error{Type: promv1.ErrBadData, Msg: "1:5: parse error: unclosed left parenthesis"}},
			wantMessage: "query: bad_data: 1:5: parse error"},
		{name: "warnings do not change the phase", answer: answer{value: vector(1), warnings: promv1.Warnings{"partial"}},
			success: "result[0] == 1", wantPhase: v1alpha1.AnalysisSuccessful},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			q := &fakeQuerier{answers: map[string][]answer{"q": {c.answer}}}
			m := v1alpha1.AnalysisMetric{Name: "m", Query: "q", SuccessCondition: c.success, FailureCondition: c.failure}
			got := analysis.Measure(context.Background(), q, m, now)
			if got.Phase != c.wantPhase || !strings.Contains(got.Message, c.wantMessage) {
				t.Fatalf("Measure = %s %q, want %s containing %q", got.Phase, got.Message, c.wantPhase, c.wantMessage)
			}
			if c.wantResult != nil && !slices.Equal(got.Result, c.wantResult) {
				t.Errorf("result = %v, want %v", got.Result, c.wantResult)
			}
			if got.Metric != "m" || !got.At.Equal(now) || !q.ts.Equal(now) {
				t.Errorf("metric %q at %v, queried at %v; want m at %v", got.Metric, got.At, q.ts, now)
			}
			if !slices.Equal(got.Warnings, c.answer.warnings) {
				t.Errorf("warnings = %v, want %v", got.Warnings, c.answer.warnings)
			}
		})
	}
}

func TestMeasureGivesUpAfterTheQueryTimeout(t *testing.T) {
	t.Parallel()
	q := &fakeQuerier{block: true}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	got := analysis.Measure(ctx, q, v1alpha1.AnalysisMetric{Name: "m", Query: "up", SuccessCondition: "true"}, start)
	if got.Phase != v1alpha1.AnalysisError || !strings.Contains(got.Message, "deadline exceeded") {
		t.Fatalf("Measure = %s %q, want an Error for the deadline", got.Phase, got.Message)
	}
	// Without a deadline of the caller's, the query has QueryTimeout.
	q = &fakeQuerier{answers: map[string][]answer{"up": {{value: vector(1)}}}}
	analysis.Measure(context.Background(), q, v1alpha1.AnalysisMetric{Name: "m", Query: "up"}, start)
	if q.deadline.IsZero() || q.deadline.After(time.Now().Add(analysis.QueryTimeout)) {
		t.Errorf("query deadline %v, want at most %v from now", q.deadline, analysis.QueryTimeout)
	}
}

func TestMeasureLogsWarningsWithTheContextLogger(t *testing.T) {
	t.Parallel()
	var logged []string
	log := funcr.New(func(prefix, args string) { logged = append(logged, args) }, funcr.Options{})
	ctx := logr.NewContext(context.Background(), log)
	q := &fakeQuerier{answers: map[string][]answer{"up": {{value: vector(1), warnings: promv1.Warnings{"PromQL info: x"}}}}}
	analysis.Measure(ctx, q, v1alpha1.AnalysisMetric{Name: "m", Query: "up"}, time.Now())
	if len(logged) != 1 || !strings.Contains(logged[0], "PromQL info: x") {
		t.Fatalf("logged %q, want the warning", logged)
	}
}

func TestMeasureRefusesAnEmptyQuery(t *testing.T) {
	t.Parallel()
	got := analysis.Measure(context.Background(), &fakeQuerier{}, v1alpha1.AnalysisMetric{Name: "m"}, time.Now())
	if got.Phase != v1alpha1.AnalysisError || got.Message != "query is empty" {
		t.Fatalf("Measure = %s %q, want Error: query is empty", got.Phase, got.Message)
	}
}

func TestValidateMetricReportsWhatWouldMakeEveryMeasurementAnError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		metric  v1alpha1.AnalysisMetric
		wantErr string
	}{
		{name: "a complete metric is valid", metric: v1alpha1.AnalysisMetric{Name: "m", Query: "up", Interval: "30s",
			SuccessCondition: "result[0] >= 0.95", FailureCondition: "len(result) == 0 || isNaN(result[0])"}},
		{name: "conditions are optional", metric: v1alpha1.AnalysisMetric{Name: "m", Query: "up"}},
		{name: "an empty query is refused", metric: v1alpha1.AnalysisMetric{Name: "m"}, wantErr: "metric m: query is empty"},
		{name: "an interval must parse", metric: v1alpha1.AnalysisMetric{Name: "m", Query: "up", Interval: "soon"},
			wantErr: `interval "soon"`},
		{name: "an interval must be positive", metric: v1alpha1.AnalysisMetric{Name: "m", Query: "up", Interval: "0s"},
			wantErr: `interval "0s"`},
		{name: "a condition must compile", metric: v1alpha1.AnalysisMetric{Name: "m", Query: "up", SuccessCondition: "result[0] >="},
			wantErr: `successCondition "result[0] >="`},
		{name: "a condition must be a bool", metric: v1alpha1.AnalysisMetric{Name: "m", Query: "up", FailureCondition: "result"},
			wantErr: "expected bool"},
		{name: "result is a list of numbers", metric: v1alpha1.AnalysisMetric{Name: "m", Query: "up", SuccessCondition: `result[0] == "x"`},
			wantErr: "successCondition"},
		{name: "nested predicates are refused", metric: v1alpha1.AnalysisMetric{Name: "m", Query: "up",
			SuccessCondition: "all(result, all(result, all(result, true)))"}, wantErr: "may not be nested"},
		{name: "unknown names are refused", metric: v1alpha1.AnalysisMetric{Name: "m", Query: "up", SuccessCondition: "value > 1"},
			wantErr: "unknown name value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := analysis.ValidateMetric(c.metric)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatal(err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
		})
	}
}
