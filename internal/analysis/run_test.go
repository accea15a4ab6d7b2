package analysis_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)

const (
	S = v1alpha1.AnalysisSuccessful
	F = v1alpha1.AnalysisFailed
	I = v1alpha1.AnalysisInconclusive
	E = v1alpha1.AnalysisError
	R = v1alpha1.AnalysisRunning
)

func TestStepDecidesAMetricByItsLimits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		metric v1alpha1.AnalysisMetric
		// measurements are taken one interval apart; phases is the run's phase after each.
		measurements []v1alpha1.AnalysisPhase
		phases       []v1alpha1.AnalysisPhase
		wantMessage  string
	}{
		{name: "one success is enough by default", measurements: []v1alpha1.AnalysisPhase{S}, phases: []v1alpha1.AnalysisPhase{S},
			wantMessage: "m: 1 of 1 measurements successful: ok"},
		{name: "count successes pass", metric: v1alpha1.AnalysisMetric{Count: new(int32(3))},
			measurements: []v1alpha1.AnalysisPhase{S, S, S}, phases: []v1alpha1.AnalysisPhase{R, R, S}},
		{name: "a failure fails at once by default", metric: v1alpha1.AnalysisMetric{Count: new(int32(3))},
			measurements: []v1alpha1.AnalysisPhase{S, F}, phases: []v1alpha1.AnalysisPhase{R, F},
			wantMessage: "m: 1 failed measurements, more than failureLimit 0: bad"},
		{name: "failures up to failureLimit are tolerated", metric: v1alpha1.AnalysisMetric{Count: new(int32(3)), FailureLimit: new(int32(1))},
			measurements: []v1alpha1.AnalysisPhase{F, S, S}, phases: []v1alpha1.AnalysisPhase{R, R, S}},
		{name: "failures past failureLimit fail", metric: v1alpha1.AnalysisMetric{Count: new(int32(3)), FailureLimit: new(int32(1))},
			measurements: []v1alpha1.AnalysisPhase{F, F}, phases: []v1alpha1.AnalysisPhase{R, F}},
		{name: "an inconclusive measurement makes the run inconclusive by default", metric: v1alpha1.AnalysisMetric{Count: new(int32(2))},
			measurements: []v1alpha1.AnalysisPhase{I}, phases: []v1alpha1.AnalysisPhase{I},
			wantMessage: "more than inconclusiveLimit 0"},
		{name: "inconclusive measurements up to inconclusiveLimit are tolerated",
			metric:       v1alpha1.AnalysisMetric{Count: new(int32(2)), InconclusiveLimit: new(int32(1))},
			measurements: []v1alpha1.AnalysisPhase{I, S}, phases: []v1alpha1.AnalysisPhase{R, S}},
		{name: "count measurements without a success are inconclusive",
			metric:       v1alpha1.AnalysisMetric{Count: new(int32(2)), FailureLimit: new(int32(5))},
			measurements: []v1alpha1.AnalysisPhase{F, F}, phases: []v1alpha1.AnalysisPhase{R, I},
			wantMessage: "none of 2 measurements succeeded"},
		{name: "errors are retried and do not count towards count", metric: v1alpha1.AnalysisMetric{Count: new(int32(2))},
			measurements: []v1alpha1.AnalysisPhase{E, S, E, S}, phases: []v1alpha1.AnalysisPhase{R, R, R, S}},
		{name: "an error never makes a run successful", measurements: []v1alpha1.AnalysisPhase{E, E, E, E},
			phases: []v1alpha1.AnalysisPhase{R, R, R, R}, wantMessage: "m: measurement error 4 in a row of at most 4, retrying: down"},
		{name: "more errors in a row than the default limit of 4 are an Error",
			measurements: []v1alpha1.AnalysisPhase{E, E, E, E, E}, phases: []v1alpha1.AnalysisPhase{R, R, R, R, E},
			wantMessage: "m: 5 measurement errors in a row, more than consecutiveErrorLimit 4: down"},
		{name: "consecutiveErrorLimit 0 makes the first error an Error", metric: v1alpha1.AnalysisMetric{ConsecutiveErrorLimit: new(int32(0))},
			measurements: []v1alpha1.AnalysisPhase{E}, phases: []v1alpha1.AnalysisPhase{E}},
		{name: "any other measurement resets the errors in a row", metric: v1alpha1.AnalysisMetric{Count: new(int32(3)), InconclusiveLimit: new(int32(1))},
			measurements: []v1alpha1.AnalysisPhase{E, E, E, E, I, E, E, E, E, S, E, E, E, E, S},
			phases:       []v1alpha1.AnalysisPhase{R, R, R, R, R, R, R, R, R, R, R, R, R, R, S}},
		{name: "a measurement in an unknown phase counts as an error", metric: v1alpha1.AnalysisMetric{ConsecutiveErrorLimit: new(int32(0))},
			measurements: []v1alpha1.AnalysisPhase{"Weird"}, phases: []v1alpha1.AnalysisPhase{E}},
	}
	messages := map[v1alpha1.AnalysisPhase]string{S: "ok", F: "bad", I: "unsure", E: "down", "Weird": "down"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.metric.Name, c.metric.Query, c.metric.Interval = "m", "q", "1m"
			tmpl := v1alpha1.AnalysisTemplate{Name: "t", Metrics: []v1alpha1.AnalysisMetric{c.metric}}
			var s v1alpha1.AnalysisRunStatus
			now := t0
			for i, p := range c.measurements {
				if due := analysis.Due(tmpl, s, now); len(due) != 1 {
					t.Fatalf("measurement %d: %d metrics due at %v, want 1", i+1, len(due), now)
				}
				s = analysis.Step(tmpl, s, analysis.Measurement{Metric: "m", Phase: p, At: now, Message: messages[p]})
				if s.Phase != c.phases[i] {
					t.Fatalf("after measurement %d (%s): phase %s, want %s (%s)", i+1, p, s.Phase, c.phases[i], s.Message)
				}
				if got := analysis.Erroring(s); got != (p != S && p != F && p != I && !analysis.Over(s)) {
					t.Errorf("after measurement %d (%s): Erroring() = %v", i+1, p, got)
				}
				next, ok := analysis.Next(tmpl, s)
				if ok != !analysis.Over(s) || ok && !next.Equal(now.Truncate(time.Microsecond).Add(time.Minute)) {
					t.Fatalf("after measurement %d: Next = %v, %v; want %v, %v", i+1, next, ok, now.Add(time.Minute), !analysis.Over(s))
				}
				now = now.Add(time.Minute)
			}
			if due := analysis.Due(tmpl, s, now.Add(time.Hour)); analysis.Over(s) && len(due) != 0 {
				t.Errorf("%d metrics due after the run is over", len(due))
			}
			if !strings.Contains(s.Message, c.wantMessage) {
				t.Errorf("message %q, want %q", s.Message, c.wantMessage)
			}
		})
	}
}

func TestStepCountsEachPhaseAndLeavesItsInputAlone(t *testing.T) {
	t.Parallel()
	tmpl := v1alpha1.AnalysisTemplate{Name: "t", Metrics: []v1alpha1.AnalysisMetric{
		{Name: "m", Query: "q", Count: new(int32(5)), FailureLimit: new(int32(5)), InconclusiveLimit: new(int32(5))}}}
	s := v1alpha1.AnalysisRunStatus{Name: "t-2", Template: "t", Phase: v1alpha1.AnalysisPending}
	for i, p := range []v1alpha1.AnalysisPhase{S, F, E, I, E} {
		before, _ := json.Marshal(s)
		next := analysis.Step(tmpl, s, analysis.Measurement{Metric: "m", Phase: p, At: t0.Add(time.Duration(i) * time.Minute)})
		if after, _ := json.Marshal(s); string(after) != string(before) {
			t.Fatalf("Step changed its input:\n%s\n%s", before, after)
		}
		s = next
	}
	m := s.Metrics[0]
	if m.Successful != 1 || m.Failed != 1 || m.Error != 2 || m.Inconclusive != 1 || m.ConsecutiveErrors != 1 {
		t.Fatalf("counts %+v, want 1 successful, 1 failed, 2 errors (1 in a row), 1 inconclusive", m)
	}
	if !s.StartedAt.Equal(&metav1.Time{Time: t0.Truncate(time.Second)}) {
		t.Errorf("started at %v, want %v", s.StartedAt, t0)
	}
	if s.Name != "t-2" || s.Template != "t" || s.Phase != R || s.Successful != 1 || s.Failed != 1 || s.Error != 2 ||
		s.Inconclusive != 1 || s.Message != "m: "+m.Message {
		t.Errorf("run status %+v, want its name and template kept, phase Running and its metric's counts and message", s)
	}
	unknown := analysis.Step(tmpl, v1alpha1.AnalysisRunStatus{}, analysis.Measurement{Metric: "gone", Phase: S, At: t0})
	if unknown.Phase != v1alpha1.AnalysisPending || unknown.Successful != 0 || len(unknown.Metrics) != 1 {
		t.Errorf("a measurement of a metric the template lacks: %+v, want a Pending run with its metric not measured", unknown)
	}
}

func TestStepKeepsTheLastMeasurementsOldestFirst(t *testing.T) {
	t.Parallel()
	tmpl := v1alpha1.AnalysisTemplate{Name: "t", Metrics: []v1alpha1.AnalysisMetric{
		{Name: "m", Query: "q", Count: new(int32(20)), FailureLimit: new(int32(20)), InconclusiveLimit: new(int32(20)), ConsecutiveErrorLimit: new(int32(20))}}}
	long := strings.Repeat("é", 400) // 800 bytes: cut at a rune boundary
	var s v1alpha1.AnalysisRunStatus
	for i := range 12 {
		m := analysis.Measurement{Metric: "m", Phase: S, At: t0.Add(time.Duration(i) * time.Minute), Result: []float64{float64(i) / 10}}
		if i == 11 {
			m = analysis.Measurement{Metric: "m", Phase: E, At: m.At, Message: long}
		}
		s = analysis.Step(tmpl, s, m)
	}
	got := s.Metrics[0].Measurements
	if len(got) != v1alpha1.MaxMeasurements {
		t.Fatalf("%d measurements kept, want %d", len(got), v1alpha1.MaxMeasurements)
	}
	for i, m := range got[:9] {
		want := v1alpha1.AnalysisMeasurement{Phase: S, MeasuredAt: metav1.NewMicroTime(t0.Add(time.Duration(i+2) * time.Minute).Truncate(time.Microsecond)),
			Value: "[" + strconv.FormatFloat(float64(i+2)/10, 'g', -1, 64) + "]"}
		if !m.MeasuredAt.Equal(&want.MeasuredAt) || m.Phase != want.Phase || m.Value != want.Value || m.Message != "" {
			t.Errorf("measurement %d: %+v, want %+v", i, m, want)
		}
	}
	last := got[9]
	if last.Phase != E || last.Value != "" || !strings.HasSuffix(last.Message, " …") || len(last.Message) > 520 || !utf8.ValidString(last.Message) {
		t.Errorf("the error: phase %s, value %q, message of %d bytes %q…; want Error, no value, its message cut at 512 bytes", last.Phase, last.Value, len(last.Message), last.Message[:20])
	}

	// Two steps from the same status do not see each other's measurement, though they share its array.
	base := s
	a := analysis.Step(tmpl, base, analysis.Measurement{Metric: "m", Phase: S, At: t0.Add(time.Hour), Result: []float64{1}})
	b := analysis.Step(tmpl, base, analysis.Measurement{Metric: "m", Phase: F, At: t0.Add(time.Hour), Result: []float64{2}})
	if va, vb := a.Metrics[0].Measurements[9].Value, b.Metrics[0].Measurements[9].Value; va != "[1]" || vb != "[2]" {
		t.Errorf("two steps from one status recorded %s and %s, want [1] and [2]", va, vb)
	}
	if base.Metrics[0].Measurements[9].Phase != E {
		t.Errorf("a step changed its input's measurements")
	}
}

func TestARunIsTheWorstOfItsMetrics(t *testing.T) {
	t.Parallel()
	tmpl := v1alpha1.AnalysisTemplate{Name: "t", Metrics: []v1alpha1.AnalysisMetric{
		{Name: "a", Query: "a", Count: new(int32(2)), InconclusiveLimit: new(int32(0))},
		{Name: "b", Query: "b", Count: new(int32(2))},
		{Name: "c", Query: "c", Count: new(int32(1))},
	}}
	type step struct {
		metric string
		phase  v1alpha1.AnalysisPhase
		want   v1alpha1.AnalysisPhase
	}
	cases := []struct {
		name        string
		steps       []step
		wantMessage string
	}{
		{name: "all metrics successful make the run successful",
			steps: []step{{"a", S, R}, {"b", S, R}, {"c", S, R}, {"a", S, R}, {"b", S, S}}},
		{name: "one failed metric fails the run at once",
			steps: []step{{"a", S, R}, {"b", F, F}}, wantMessage: "b: 1 failed measurements"},
		{name: "one metric in Error makes the run Error at once",
			steps: []step{{"c", E, R}, {"c", E, R}, {"c", E, R}, {"c", E, R}, {"c", E, E}}},
		{name: "an inconclusive metric waits for the others, which may still fail",
			steps: []step{{"a", I, R}, {"c", S, R}, {"b", S, R}, {"b", F, F}}},
		{name: "an inconclusive metric makes the run inconclusive when the others pass",
			steps: []step{{"a", I, R}, {"c", S, R}, {"b", S, R}, {"b", S, I}}, wantMessage: "a: 1 inconclusive"},
		{name: "measurements of unknown metrics change nothing",
			steps: []step{{"a", S, R}, {"zz", F, R}}},
		{name: "measurements of a metric that is over change nothing",
			steps: []step{{"c", S, R}, {"c", F, R}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var s v1alpha1.AnalysisRunStatus
			for i, st := range c.steps {
				s = analysis.Step(tmpl, s, analysis.Measurement{Metric: st.metric, Phase: st.phase, At: t0.Add(time.Duration(i) * time.Minute)})
				if s.Phase != st.want {
					t.Fatalf("after %s %s: run %s, want %s (%s)", st.metric, st.phase, s.Phase, st.want, s.Message)
				}
			}
			if c.wantMessage != "" && !strings.HasPrefix(s.Message, c.wantMessage) {
				t.Errorf("message %q, want it to start with %q", s.Message, c.wantMessage)
			}
		})
	}
}

func TestNextIsTheEarliestDueMetric(t *testing.T) {
	t.Parallel()
	tmpl := v1alpha1.AnalysisTemplate{Name: "t", Metrics: []v1alpha1.AnalysisMetric{
		{Name: "slow", Query: "slow", Count: new(int32(3)), Interval: "5m"},
		{Name: "fast", Query: "fast", Count: new(int32(3)), Interval: "30s"},
		{Name: "default", Query: "default", Count: new(int32(3))},
	}}
	var s v1alpha1.AnalysisRunStatus
	if next, ok := analysis.Next(tmpl, s); !ok || !next.IsZero() {
		t.Fatalf("a run not started: Next = %v, %v; want due now", next, ok)
	}
	if due := analysis.Due(tmpl, s, t0); len(due) != 3 {
		t.Fatalf("a run not started: %d metrics due, want all 3", len(due))
	}
	for _, m := range tmpl.Metrics {
		s = analysis.Step(tmpl, s, analysis.Measurement{Metric: m.Name, Phase: S, At: t0})
	}
	if s.Successful != 3 {
		t.Errorf("the run counts %d successful measurements, want its 3 metrics' added up", s.Successful)
	}
	at := t0.Truncate(time.Microsecond)
	if next, ok := analysis.Next(tmpl, s); !ok || !next.Equal(at.Add(30*time.Second)) {
		t.Fatalf("Next = %v, %v; want the fast metric's, 30s later", next, ok)
	}
	for _, c := range []struct {
		at   time.Time
		want []string
	}{
		{at: at.Add(30*time.Second - time.Nanosecond)},
		{at: at.Add(30 * time.Second), want: []string{"fast"}},
		{at: at.Add(analysis.DefaultInterval), want: []string{"fast", "default"}},
		{at: at.Add(5 * time.Minute), want: []string{"slow", "fast", "default"}},
	} {
		var got []string
		for _, m := range analysis.Due(tmpl, s, c.at) {
			got = append(got, m.Name)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("due at +%v: %v, want %v", c.at.Sub(at), got, c.want)
		}
	}
}

func TestAMetricAddedToTheTemplateMidRunIsMeasuredAtOnce(t *testing.T) {
	t.Parallel()
	tmpl := v1alpha1.AnalysisTemplate{Name: "t", Metrics: []v1alpha1.AnalysisMetric{{Name: "a", Query: "a", Count: new(int32(2))}}}
	s := analysis.Step(tmpl, v1alpha1.AnalysisRunStatus{}, analysis.Measurement{Metric: "a", Phase: S, At: t0})
	tmpl.Metrics = append(tmpl.Metrics, v1alpha1.AnalysisMetric{Name: "b", Query: "b"})
	if due := analysis.Due(tmpl, s, t0.Add(time.Second)); len(due) != 1 || due[0].Name != "b" {
		t.Fatalf("due %v, want b", due)
	}
	s = analysis.Step(tmpl, s, analysis.Measurement{Metric: "b", Phase: S, At: t0.Add(time.Second)})
	if len(s.Metrics) != 2 || s.Metrics[1].Name != "b" || s.Phase != R {
		t.Fatalf("state %+v, want a and b, running", s)
	}
}

// TestARestartedControllerResumesTheSameRun drives runs with errors and two metrics on a fixed clock, once without
// interruption and once with the state going through JSON (as through status) every few reconciles: the second
// must take the same measurements at the same times and end the same.
func TestARestartedControllerResumesTheSameRun(t *testing.T) {
	t.Parallel()
	down := answer{err: errors.New("connection refused")}
	cases := []struct {
		name      string
		latency   v1alpha1.AnalysisMetric
		script    map[string][]answer
		wantPhase v1alpha1.AnalysisPhase
		wantState func(v1alpha1.AnalysisRunStatus) bool
	}{
		{name: "a run retried through errors succeeds",
			latency: v1alpha1.AnalysisMetric{Interval: "45s", Count: new(int32(3))},
			script: map[string][]answer{
				"success": {{value: vector(0.97)}, down, down, {value: vector(0.92)}, down, {value: vector(0.99)}},
				"latency": {down, {value: vector(0.2)}, down, down, down, {value: vector(0.25)}},
			},
			wantPhase: S,
			wantState: func(s v1alpha1.AnalysisRunStatus) bool {
				return s.Metrics[0].Error == 3 && s.Metrics[1].Error == 4 && s.Metrics[0].Inconclusive == 1
			}},
		{name: "errors in a row across restarts add up to an Error",
			latency: v1alpha1.AnalysisMetric{Interval: "45s", Count: new(int32(5)), ConsecutiveErrorLimit: new(int32(3))},
			script: map[string][]answer{
				"success": {{value: vector(0.97)}},
				"latency": {{value: vector(0.2)}, down, down, down, down},
			},
			wantPhase: E,
			wantState: func(s v1alpha1.AnalysisRunStatus) bool { return s.Metrics[1].ConsecutiveErrors == 4 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.latency.Name, c.latency.Query, c.latency.SuccessCondition = "latency", "latency", "result[0] < 0.3"
			tmpl := v1alpha1.AnalysisTemplate{Name: "t", Metrics: []v1alpha1.AnalysisMetric{
				{Name: "success-rate", Query: "success", SuccessCondition: "result[0] >= 0.95",
					FailureCondition: "result[0] < 0.9", Interval: "1m", Count: new(int32(4)), InconclusiveLimit: new(int32(1))},
				c.latency,
			}}
			// reconcile returns the final state and the times of the reconciles that measured; with restartEvery
			// n, a new controller (the state through JSON) takes over before every nth reconcile.
			reconcile := func(restartEvery int) (v1alpha1.AnalysisRunStatus, []time.Time) {
				q := &fakeQuerier{answers: c.script}
				var s v1alpha1.AnalysisRunStatus
				var measuredAt []time.Time
				now := t0
				for i := 1; i < 100; i++ {
					if restartEvery > 0 && i%restartEvery == 0 {
						data, err := json.Marshal(s)
						if err != nil {
							t.Fatal(err)
						}
						s = v1alpha1.AnalysisRunStatus{}
						if err := json.Unmarshal(data, &s); err != nil {
							t.Fatal(err)
						}
					}
					if len(analysis.Due(tmpl, s, now)) > 0 {
						measuredAt = append(measuredAt, now)
					}
					s = analysis.Run(context.Background(), q, tmpl, s, now)
					next, ok := analysis.Next(tmpl, s)
					if !ok {
						return s, measuredAt
					}
					// The controller is requeued at next and reconciles a little late.
					now = next.Add(137 * time.Millisecond)
				}
				t.Fatal("the run did not end")
				return s, nil
			}
			want, wantTimes := reconcile(0)
			if want.Phase != c.wantPhase || !c.wantState(want) {
				t.Fatalf("uninterrupted run: %s (%s) %+v, want %s", want.Phase, want.Message, want.Metrics, c.wantPhase)
			}
			wantJSON, _ := json.Marshal(want)
			for _, every := range []int{1, 2, 3, 5} {
				got, gotTimes := reconcile(every)
				if gotJSON, _ := json.Marshal(got); string(gotJSON) != string(wantJSON) {
					t.Errorf("restarting every %d reconciles:\n got %s\nwant %s", every, gotJSON, wantJSON)
				}
				if len(gotTimes) != len(wantTimes) {
					t.Fatalf("restarting every %d reconciles: measured at %v, want %v", every, gotTimes, wantTimes)
				}
				for i := range gotTimes {
					if !gotTimes[i].Equal(wantTimes[i]) {
						t.Errorf("restarting every %d reconciles: measurement %d at %v, want %v", every, i, gotTimes[i], wantTimes[i])
					}
				}
			}
		})
	}
}

func TestRunRecordsNothingWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	tmpl := v1alpha1.AnalysisTemplate{Name: "t", Metrics: []v1alpha1.AnalysisMetric{{Name: "m", Query: "up"}}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := analysis.Run(ctx, &fakeQuerier{block: true}, tmpl, v1alpha1.AnalysisRunStatus{}, t0)
	if s.Phase != "" || len(s.Metrics) != 0 {
		t.Fatalf("state %+v, want the run not started", s)
	}
	if due := analysis.Due(tmpl, s, t0); len(due) != 1 {
		t.Fatalf("%d metrics due, want m still due", len(due))
	}
}
