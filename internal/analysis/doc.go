// Package analysis measures a rollout's analysis metrics on Prometheus and decides, measurement by measurement,
// whether an analysis run passes, as Argo Rollouts' analysis does.
//
// # Measurements
//
// Measure runs a metric's PromQL query as an instant query at the measurement time and binds its result to
// `result` in the metric's successCondition and failureCondition, which are expr-lang/expr expressions returning a
// bool, e.g. `result[0] >= 0.95` or `len(result) == 0 || result[0] < 0.01`. result is always a []float64:
//
//   - an instant vector gives one value per series, ordered by the series' label sets, so the order does not depend
//     on Prometheus (the order of sort() and sort_desc() is not kept: aggregate to one series when order matters);
//   - a scalar gives one value; an empty vector gives an empty slice;
//   - a range vector, a string or more than MaxResultValues series is an Error: an analysis query must return a
//     few aggregated numbers.
//
// NaN and ±Inf samples (a success rate over no requests is 0/0 = NaN) stay in result as they are. Every comparison
// with NaN is false, so `result[0] >= 0.95` does not hold for NaN; conditions that mean to treat NaN specially use
// the functions isNaN(x) and isInf(x), e.g. `isNaN(result[0]) || result[0] >= 0.95`. Messages print them as NaN,
// +Inf and -Inf.
//
// Conditions have all of expr's language except nested predicates (all(result, any(result, …)) is refused): expr
// bounds what a condition allocates but not how long it runs, and one level of predicates over at most
// MaxResultValues values keeps every evaluation short.
//
// A measurement's phase follows Argo Rollouts' rule:
//
//   - Error: the query failed (Prometheus unreachable, timeout, bad PromQL, a range vector) or a condition could
//     not be evaluated (does not compile, does not return a bool, indexes past the end of result). Warnings that
//     come with a successful query are only logged.
//   - Failed: failureCondition holds, or only successCondition is set and it does not hold.
//   - Successful: successCondition holds and failureCondition does not, or only failureCondition is set and it does
//     not hold, or neither is set.
//   - Inconclusive: both are set and neither holds.
//
// # Runs
//
// An analysis run measures every metric of one AnalysisTemplate Count times (default 1), Interval apart (default
// DefaultInterval). All of its progress is in its v1alpha1.AnalysisRunStatus, the very value the controller stores
// in the ModelDeployment's status (no copy of it in another shape), so a controller restarted mid-run resumes with the same remaining measurements and the
// same next due time: Run measures the metrics that are due and Step records a measurement; Next says when to come
// back. Per metric, after each measurement:
//
//   - Failed when more than FailureLimit (default 0) measurements failed;
//   - Inconclusive when more than InconclusiveLimit (default 0) were inconclusive;
//   - Error when more than ConsecutiveErrorLimit (default 4) measurements in a row were errors;
//   - Successful when Count measurements other than errors were taken and at least one of them succeeded
//     (Inconclusive when none did);
//   - Running otherwise.
//
// An Error measurement is not a failure: it does not count towards Count and is retried at the metric's interval;
// any other measurement resets the count of consecutive errors. While a metric's last measurement was an error,
// the run stays Running (Erroring reports it): the rollout pauses and never promotes, because the run is
// not Successful.
//
// Times in an AnalysisRunStatus have the precision of their JSON form (StartedAt, a metav1.Time, is whole seconds;
// LastMeasuredAt, a metav1.MicroTime, microseconds), so storing and reading it back changes nothing.
//
// The run's phase is the worst of its metrics': Failed as soon as one metric failed, else Error as soon as one
// errored past its limit (both end the run; the rollout aborts); else Running while a metric is still measuring;
// else Inconclusive if a metric was inconclusive (the rollout pauses for a person to decide); else Successful.
package analysis
