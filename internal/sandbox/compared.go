package sandbox

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/marina-dev/marina/internal/analysis"
)

// compared says what marina router made so far of the requests it mirrored to version, as the sandbox's
// Prometheus has it: the answers it compared, by result, and the requests it dropped, by reason. The shadow analysis
// judges the classification rows of the compared answers; when it cannot (every answer an error, say), this says
// why. It asks even when ctx has ended (a step that timed out is when it matters most), for at most 10 seconds.
func (d *demo) compared(ctx context.Context, namespace, version string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	q, err := analysis.NewClient(d.st.Prometheus, analysis.Auth{})
	if err != nil {
		return "the router's comparisons: " + err.Error()
	}
	sel := fmt.Sprintf(`{namespace=%q,model=%q,shadow=%q}`, namespace, DemoModel, version)
	n, results, err := sumBy(ctx, q, "result", "marina_router_shadow_comparisons_total"+sel)
	if err != nil {
		return "the router's comparisons, from Prometheus: " + err.Error()
	}
	dropped, reasons, err := sumBy(ctx, q, "reason", "marina_router_mirror_dropped_total"+sel)
	if err != nil {
		return "the router's dropped mirrored requests, from Prometheus: " + err.Error()
	}
	return fmt.Sprintf("marina router compared %d answers of %s with the live version's (%s) and dropped %d mirrored requests (%s)",
		n, version, results, dropped, reasons)
}

// sumBy sums the series query selects by label and returns the total and the non-zero sums, largest first
// ("120 differs, 22 exact"), or "none".
func sumBy(ctx context.Context, q analysis.Querier, label, query string) (int64, string, error) {
	v, _, err := q.Query(ctx, fmt.Sprintf("sum by (%s) (%s)", label, query), time.Now(), promv1.WithTimeout(analysis.QueryTimeout))
	if err != nil {
		return 0, "", err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return 0, "", fmt.Errorf("%s: a %s, not a vector", query, v.Type())
	}
	type part struct {
		name string
		n    int64
	}
	var parts []part
	var total int64
	for _, s := range vec {
		if n := int64(s.Value); n > 0 {
			parts = append(parts, part{string(s.Metric[model.LabelName(label)]), n})
			total += n
		}
	}
	if len(parts) == 0 {
		return 0, "none", nil
	}
	slices.SortFunc(parts, func(a, b part) int { return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.name, b.name)) })
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = fmt.Sprintf("%d %s", p.n, p.name)
	}
	return total, strings.Join(out, ", "), nil
}
