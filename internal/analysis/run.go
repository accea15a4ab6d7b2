package analysis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
)

// Defaults of the metric fields a spec leaves out; the limits are Argo Rollouts'.
const (
	// DefaultCount is how many measurements a metric takes without count.
	DefaultCount = 1
	// DefaultInterval is the time between measurements, and between retries after an error, without interval.
	DefaultInterval = time.Minute
	// DefaultFailureLimit is how many failed measurements a metric tolerates without failureLimit.
	DefaultFailureLimit = 0
	// DefaultInconclusiveLimit is how many inconclusive measurements a metric tolerates without inconclusiveLimit.
	DefaultInconclusiveLimit = 0
	// DefaultConsecutiveErrorLimit is how many errors in a row a metric tolerates without consecutiveErrorLimit.
	DefaultConsecutiveErrorLimit = 4
)

// maxConcurrentQueries bounds the queries one Run sends to Prometheus at once.
const maxConcurrentQueries = 4

// Run measures the metrics of t that are due at now on q and records the measurements in s, the run's status: what
// a reconcile calls before storing the result and coming back at Next. Queries run concurrently, at most a few at a time;
// measurements are recorded in the template's order. When ctx ends during the queries (the controller is shutting
// down), nothing is recorded: the errors would be the caller's, not Prometheus', and the metrics stay due.
func Run(ctx context.Context, q Querier, t v1alpha1.AnalysisTemplate, s v1alpha1.AnalysisRunStatus, now time.Time) v1alpha1.AnalysisRunStatus {
	due := Due(t, s, now)
	measurements := make([]Measurement, len(due))
	var g errgroup.Group
	g.SetLimit(maxConcurrentQueries)
	for i, m := range due {
		g.Go(func() error {
			measurements[i] = Measure(ctx, q, m, now) // an error is a measurement (phase Error), not the group's
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() != nil {
		return s
	}
	for _, m := range measurements {
		s = Step(t, s, m)
	}
	return s
}

// Due returns the metrics of t to measure at now, in the template's order: those not measured yet and those whose
// interval has passed since their last measurement. It returns none once the run is over.
func Due(t v1alpha1.AnalysisTemplate, s v1alpha1.AnalysisRunStatus, now time.Time) []v1alpha1.AnalysisMetric {
	if Over(s) {
		return nil
	}
	var due []v1alpha1.AnalysisMetric
	for _, m := range t.Metrics {
		if at, ok := dueAt(m, s); ok && !at.After(now) {
			due = append(due, m)
		}
	}
	return due
}

// Next returns when the next measurement of the run is due (a time at or before now means now), and false once the
// run is over.
func Next(t v1alpha1.AnalysisTemplate, s v1alpha1.AnalysisRunStatus) (time.Time, bool) {
	if Over(s) {
		return time.Time{}, false
	}
	var next time.Time
	found := false
	for _, m := range t.Metrics {
		if at, ok := dueAt(m, s); ok && (!found || at.Before(next)) {
			next, found = at, true
		}
	}
	return next, found
}

// Step records measurement m of one of t's metrics in s and decides the metric's and the run's phases (see the
// package doc); the run's counts are its metrics' added up. A measurement of a metric t does not have, or of a
// metric or run that is over, changes nothing; a measurement in a phase other than Successful, Failed and
// Inconclusive counts as an Error. s is not modified.
func Step(t v1alpha1.AnalysisTemplate, s v1alpha1.AnalysisRunStatus, m Measurement) v1alpha1.AnalysisRunStatus {
	if Over(s) {
		return s
	}
	s = synced(s, t, m.At)
	i := indexOf(t, m.Metric)
	if i < 0 || over(s.Metrics[i].Phase) {
		return s
	}
	spec, ms := t.Metrics[i], &s.Metrics[i]
	at := metav1.NewMicroTime(m.At.Truncate(time.Microsecond))
	ms.LastMeasuredAt = &at
	switch m.Phase {
	case v1alpha1.AnalysisSuccessful:
		ms.Successful++
		ms.ConsecutiveErrors = 0
	case v1alpha1.AnalysisFailed:
		ms.Failed++
		ms.ConsecutiveErrors = 0
	case v1alpha1.AnalysisInconclusive:
		ms.Inconclusive++
		ms.ConsecutiveErrors = 0
	default:
		ms.Error++
		ms.ConsecutiveErrors++
	}
	ms.Measurements = kept(ms.Measurements, m, at)
	ms.Phase, ms.Message = assessMetric(spec, *ms, m.Message)
	s.Successful, s.Failed, s.Error, s.Inconclusive = 0, 0, 0, 0
	for _, d := range s.Metrics {
		s.Successful += d.Successful
		s.Failed += d.Failed
		s.Error += d.Error
		s.Inconclusive += d.Inconclusive
	}
	s.Phase = runPhase(s.Metrics)
	s.Message = ms.Name + ": " + ms.Message
	if over(s.Phase) {
		for _, d := range s.Metrics {
			if d.Phase == s.Phase {
				s.Message = d.Name + ": " + d.Message
				break
			}
		}
	}
	return s
}

// Over reports whether run s has its final phase.
func Over(s v1alpha1.AnalysisRunStatus) bool { return over(s.Phase) }

// Erroring reports whether run s is still running but the last measurement of one of its metrics was an error:
// the rollout waits, with an Error reason, while the measurement is retried.
func Erroring(s v1alpha1.AnalysisRunStatus) bool {
	if Over(s) {
		return false
	}
	for _, m := range s.Metrics {
		if m.ConsecutiveErrors > 0 {
			return true
		}
	}
	return false
}

// maxMeasurementMessage bounds a kept measurement's message: an error from Prometheus can quote a whole query.
const maxMeasurementMessage = 512

// kept returns the metric's kept measurements with m at the end, the oldest dropped past MaxMeasurements; it does
// not modify ms's array, which the caller's status may share.
func kept(ms []v1alpha1.AnalysisMeasurement, m Measurement, at metav1.MicroTime) []v1alpha1.AnalysisMeasurement {
	meas := v1alpha1.AnalysisMeasurement{Phase: m.Phase, MeasuredAt: at}
	switch m.Phase {
	case v1alpha1.AnalysisSuccessful, v1alpha1.AnalysisFailed, v1alpha1.AnalysisInconclusive:
		meas.Value = formatValues(m.Result)
	default:
		meas.Phase, meas.Message = v1alpha1.AnalysisError, m.Message
		if len(meas.Message) > maxMeasurementMessage {
			meas.Message = strings.ToValidUTF8(meas.Message[:maxMeasurementMessage], "") + " …"
		}
	}
	out := append(slices.Clip(ms), meas)
	return out[max(0, len(out)-v1alpha1.MaxMeasurements):]
}

// synced returns a copy of s with a state for each of t's metrics, in t's order (a metric added to the template
// since the run started is Pending, one removed is dropped), started at now if it had not started.
func synced(s v1alpha1.AnalysisRunStatus, t v1alpha1.AnalysisTemplate, now time.Time) v1alpha1.AnalysisRunStatus {
	metrics := make([]v1alpha1.AnalysisMetricStatus, len(t.Metrics))
	for i, m := range t.Metrics {
		metrics[i] = v1alpha1.AnalysisMetricStatus{Name: m.Name, Phase: v1alpha1.AnalysisPending}
		for _, ms := range s.Metrics {
			if ms.Name == m.Name {
				metrics[i] = ms
				break
			}
		}
	}
	s.Metrics = metrics
	if s.StartedAt == nil {
		started := metav1.NewTime(now.Truncate(time.Second))
		s.StartedAt = &started
	}
	if s.Phase == "" {
		s.Phase = v1alpha1.AnalysisPending
	}
	return s
}

// dueAt returns when metric m of run s is due: now when it was never measured, an interval after its last
// measurement otherwise; false when it is over.
func dueAt(m v1alpha1.AnalysisMetric, s v1alpha1.AnalysisRunStatus) (time.Time, bool) {
	for _, ms := range s.Metrics {
		if ms.Name != m.Name {
			continue
		}
		if over(ms.Phase) {
			return time.Time{}, false
		}
		if ms.LastMeasuredAt != nil {
			return ms.LastMeasuredAt.Add(interval(m)), true
		}
	}
	return time.Time{}, true
}

// assessMetric decides a metric's phase after a measurement whose message is last.
func assessMetric(m v1alpha1.AnalysisMetric, ms v1alpha1.AnalysisMetricStatus, last string) (v1alpha1.AnalysisPhase, string) {
	failureLimit := limit(m.FailureLimit, DefaultFailureLimit)
	inconclusiveLimit := limit(m.InconclusiveLimit, DefaultInconclusiveLimit)
	errorLimit := limit(m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit)
	count := limit(m.Count, DefaultCount)
	measured := ms.Successful + ms.Failed + ms.Inconclusive
	switch {
	case ms.Failed > failureLimit:
		return v1alpha1.AnalysisFailed, fmt.Sprintf("%d failed measurements, more than failureLimit %d: %s",
			ms.Failed, failureLimit, last)
	case ms.Inconclusive > inconclusiveLimit:
		return v1alpha1.AnalysisInconclusive, fmt.Sprintf(
			"%d inconclusive measurements, more than inconclusiveLimit %d: %s", ms.Inconclusive, inconclusiveLimit, last)
	case ms.ConsecutiveErrors > errorLimit:
		return v1alpha1.AnalysisError, fmt.Sprintf(
			"%d measurement errors in a row, more than consecutiveErrorLimit %d: %s", ms.ConsecutiveErrors, errorLimit, last)
	case ms.ConsecutiveErrors > 0:
		return v1alpha1.AnalysisRunning, fmt.Sprintf("measurement error %d in a row of at most %d, retrying: %s",
			ms.ConsecutiveErrors, errorLimit, last)
	case measured >= count && ms.Successful == 0:
		return v1alpha1.AnalysisInconclusive, fmt.Sprintf("none of %d measurements succeeded: %s", measured, last)
	case measured >= count:
		return v1alpha1.AnalysisSuccessful, fmt.Sprintf("%d of %d measurements successful: %s",
			ms.Successful, measured, last)
	default:
		return v1alpha1.AnalysisRunning, fmt.Sprintf("measurement %d of %d: %s", measured, count, last)
	}
}

// runPhase is the worst phase of a run's metrics (see the package doc).
func runPhase(metrics []v1alpha1.AnalysisMetricStatus) v1alpha1.AnalysisPhase {
	has := map[v1alpha1.AnalysisPhase]bool{}
	for _, m := range metrics {
		has[m.Phase] = true
	}
	for _, p := range []v1alpha1.AnalysisPhase{v1alpha1.AnalysisFailed, v1alpha1.AnalysisError} {
		if has[p] {
			return p
		}
	}
	if has[v1alpha1.AnalysisRunning] || has[v1alpha1.AnalysisPending] {
		return v1alpha1.AnalysisRunning
	}
	if has[v1alpha1.AnalysisInconclusive] {
		return v1alpha1.AnalysisInconclusive
	}
	return v1alpha1.AnalysisSuccessful
}

func over(p v1alpha1.AnalysisPhase) bool {
	switch p {
	case v1alpha1.AnalysisSuccessful, v1alpha1.AnalysisFailed, v1alpha1.AnalysisError, v1alpha1.AnalysisInconclusive:
		return true
	}
	return false
}

func indexOf(t v1alpha1.AnalysisTemplate, metric string) int {
	for i, m := range t.Metrics {
		if m.Name == metric {
			return i
		}
	}
	return -1
}

// interval is m's interval, DefaultInterval when it is not set (or invalid, which ValidateMetric reports).
func interval(m v1alpha1.AnalysisMetric) time.Duration {
	if d, err := m.Interval.Duration(); err == nil && d > 0 {
		return d
	}
	return DefaultInterval
}

func limit(v *int32, def int32) int32 {
	if v == nil {
		return def
	}
	return *v
}
