package sandbox

import (
	"context"
	"errors"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// querier answers every query with one value, or an error, and keeps the query.
type querier struct {
	value model.Value
	err   error
	query string
}

func (q *querier) Query(_ context.Context, query string, _ time.Time, _ ...promv1.Option) (model.Value, promv1.Warnings, error) {
	q.query = query
	return q.value, nil, q.err
}

func TestSumByListsTheNonZeroSumsLargestFirst(t *testing.T) {
	t.Parallel()
	sample := func(result string, v float64) *model.Sample {
		return &model.Sample{Metric: model.Metric{"result": model.LabelValue(result)}, Value: model.SampleValue(v)}
	}
	for _, tc := range []struct {
		name      string
		q         querier
		wantTotal int64
		want      string
		wantErr   bool
	}{
		{"sums by result", querier{value: model.Vector{sample("exact", 22), sample("error_mismatch", 0), sample("differs", 120), sample("unparseable", 22)}},
			164, "120 differs, 22 exact, 22 unparseable", false},
		{"nothing compared", querier{value: model.Vector{}}, 0, "none", false},
		{"every sum zero", querier{value: model.Vector{sample("exact", 0)}}, 0, "none", false},
		{"not a vector", querier{value: &model.Scalar{Value: 1}}, 0, "", true},
		{"Prometheus fails", querier{err: errors.New("connection refused")}, 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			total, got, err := sumBy(t.Context(), &tc.q, "result", `m{shadow="1.2.0"}`)
			if (err != nil) != tc.wantErr || total != tc.wantTotal || got != tc.want {
				t.Errorf("sumBy: %d, %q, %v; want %d, %q, error %v", total, got, err, tc.wantTotal, tc.want, tc.wantErr)
			}
			if want := `sum by (result) (m{shadow="1.2.0"})`; tc.q.query != want {
				t.Errorf("query %q, want %q", tc.q.query, want)
			}
		})
	}
}
