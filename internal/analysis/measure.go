package analysis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/marina-dev/marina/api/v1alpha1"
)

// QueryTimeout bounds one measurement's query: the client gives up after it, and Prometheus is asked to as well.
const QueryTimeout = 10 * time.Second

// MaxResultValues is the most values a query may return: conditions judge a few aggregated numbers, and the
// bound keeps their evaluation time bounded too.
const MaxResultValues = 1000

// Querier is the part of Prometheus' HTTP API a measurement needs; NewClient returns one, and so does
// promv1.NewAPI.
type Querier interface {
	// Query runs an instant query at ts.
	Query(ctx context.Context, query string, ts time.Time, opts ...promv1.Option) (model.Value, promv1.Warnings, error)
}

var _ Querier = promv1.API(nil)

// Measurement is the outcome of measuring one metric once.
type Measurement struct {
	// Metric is the metric's name.
	Metric string
	// Phase is Successful, Failed, Inconclusive or Error.
	Phase v1alpha1.AnalysisPhase
	// At is the measurement time: the query's evaluation time.
	At time.Time
	// Result is what the conditions saw; nil when the query failed.
	Result []float64
	// Message says why the measurement has its phase: the result and the condition that decided, or the error.
	Message string
	// Warnings are the warnings Prometheus returned with the result; they do not change the phase.
	Warnings []string
}

// Measure runs m's query as an instant query at now, with QueryTimeout, and judges the result with m's conditions.
// It never returns an error: whatever goes wrong is a measurement in phase Error whose Message says what. Warnings
// are logged with the logger in ctx (logr.FromContextOrDiscard), as controller-runtime passes it.
func Measure(ctx context.Context, q Querier, m v1alpha1.AnalysisMetric, now time.Time) Measurement {
	meas := Measurement{Metric: m.Name, At: now}
	if m.Query == "" {
		return meas.error(errors.New("query is empty"))
	}
	ctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	value, warnings, err := q.Query(ctx, m.Query, now, promv1.WithTimeout(QueryTimeout))
	if len(warnings) > 0 {
		meas.Warnings = warnings
		logr.FromContextOrDiscard(ctx).Info("Prometheus returned warnings", "metric", m.Name, "query", m.Query,
			"warnings", []string(warnings))
	}
	if err != nil {
		return meas.error(fmt.Errorf("query: %w", err))
	}
	result, err := values(value)
	if err != nil {
		return meas.error(fmt.Errorf("query: %w", err))
	}
	meas.Result = result
	phase, why, err := assess(m.SuccessCondition, m.FailureCondition, result)
	if err != nil {
		return meas.error(fmt.Errorf("result %s: %w", formatValues(result), err))
	}
	meas.Phase, meas.Message = phase, fmt.Sprintf("result %s: %s", formatValues(result), why)
	return meas
}

func (m Measurement) error(err error) Measurement {
	m.Phase, m.Message = v1alpha1.AnalysisError, err.Error()
	return m
}

// values turns a query result into what conditions see as result (see the package doc).
func values(v model.Value) ([]float64, error) {
	switch v := v.(type) {
	case model.Vector:
		samples := make(model.Vector, 0, len(v))
		for _, s := range v {
			if s == nil {
				continue
			}
			if s.Histogram != nil {
				return nil, fmt.Errorf("series %s is a native histogram, not a number: use histogram_quantile, "+
					"histogram_count or histogram_sum", s.Metric)
			}
			samples = append(samples, s)
		}
		slices.SortStableFunc(samples, func(a, b *model.Sample) int {
			switch {
			case a.Metric.Before(b.Metric):
				return -1
			case b.Metric.Before(a.Metric):
				return 1
			}
			return 0
		})
		if len(samples) > MaxResultValues {
			return nil, fmt.Errorf("%d series, more than %d: aggregate them in the query (sum, avg, max, topk …)",
				len(samples), MaxResultValues)
		}
		out := make([]float64, len(samples))
		for i, s := range samples {
			out[i] = float64(s.Value)
		}
		return out, nil
	case *model.Scalar:
		if v == nil {
			return nil, errors.New("no result")
		}
		return []float64{float64(v.Value)}, nil
	case model.Matrix:
		return nil, errors.New("the result is a range vector: an analysis query must return an instant vector or " +
			"a scalar (drop the [range] selector, or wrap it in a function such as rate)")
	case nil:
		return nil, errors.New("no result")
	default:
		return nil, fmt.Errorf("the result is a %s: an analysis query must return an instant vector or a scalar",
			v.Type())
	}
}

// maxFormattedValues keeps messages, which end up in status, short when a query returns many series.
const maxFormattedValues = 10

// formatValues prints result as conditions see it, NaN and ±Inf included.
func formatValues(result []float64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range result {
		if i == maxFormattedValues {
			fmt.Fprintf(&b, " … %d values", len(result))
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	}
	b.WriteByte(']')
	return b.String()
}
