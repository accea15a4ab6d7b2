package analysis

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/marina-dev/marina/api/v1alpha1"
)

// env is what a condition sees: its type tells the compiler that result is a []float64.
type env struct {
	Result []float64 `expr:"result"`
}

// maxCachedPrograms bounds the cache of compiled conditions: specs change over a controller's life, and a full
// cache is simply emptied (compiling again is cheap, growing forever is not).
const maxCachedPrograms = 1024

var programs = struct {
	sync.Mutex
	m map[string]*vm.Program
}{m: map[string]*vm.Program{}}

// compile compiles a condition once; later calls with the same expression share the program, which is safe for
// concurrent runs.
func compile(condition string) (*vm.Program, error) {
	programs.Lock()
	p, ok := programs.m[condition]
	programs.Unlock()
	if ok {
		return p, nil
	}
	p, err := expr.Compile(condition,
		expr.Env(env{}),
		expr.AsBool(),
		expr.Function("isNaN", func(params ...any) (any, error) {
			return math.IsNaN(params[0].(float64)), nil
		}, new(func(float64) bool)),
		expr.Function("isInf", func(params ...any) (any, error) {
			return math.IsInf(params[0].(float64), 0), nil
		}, new(func(float64) bool)),
	)
	if err != nil {
		return nil, err
	}
	if err := checkNesting(p.Node()); err != nil {
		return nil, err
	}
	programs.Lock()
	if len(programs.m) >= maxCachedPrograms {
		clear(programs.m)
	}
	programs.m[condition] = p
	programs.Unlock()
	return p, nil
}

// errNestedPredicates refuses conditions whose cost grows faster than the square of the result's length. expr's
// memory budget bounds what a condition allocates, not the time it takes: all(result, all(result, all(result, …)))
// allocates nothing, and one such condition would hold a controller worker for hours. With one level of
// predicates and at most MaxResultValues values, a condition stays within about a million steps.
var errNestedPredicates = errors.New("predicates (all, any, filter, map, count, …) may not be nested")

// checkNesting returns errNestedPredicates when a predicate contains another.
func checkNesting(root ast.Node) error {
	nested := false
	ast.Walk(&root, visitor(func(n *ast.Node) {
		if p, ok := (*n).(*ast.PredicateNode); ok && !nested {
			ast.Walk(&p.Node, visitor(func(inner *ast.Node) {
				_, isPredicate := (*inner).(*ast.PredicateNode)
				nested = nested || isPredicate
			}))
		}
	}))
	if nested {
		return errNestedPredicates
	}
	return nil
}

// visitor adapts a function to ast.Visitor.
type visitor func(*ast.Node)

func (v visitor) Visit(n *ast.Node) { v(n) }

// evaluate runs one condition on result.
func evaluate(condition string, result []float64) (bool, error) {
	p, err := compile(condition)
	if err != nil {
		return false, err
	}
	out, err := expr.Run(p, env{Result: result})
	if err != nil {
		if len(result) == 0 {
			return false, fmt.Errorf("%w (the query returned no samples)", err)
		}
		return false, err
	}
	b, ok := out.(bool)
	if !ok { // AsBool makes the compiler reject anything else; this guards the type assertion only.
		return false, fmt.Errorf("returned %T, not a bool", out)
	}
	return b, nil
}

// assess decides a measurement's phase from the conditions, with Argo Rollouts' rule (see the package doc).
func assess(successCondition, failureCondition string, result []float64) (v1alpha1.AnalysisPhase, string, error) {
	var success, failure bool
	var err error
	if successCondition != "" {
		if success, err = evaluate(successCondition, result); err != nil {
			return v1alpha1.AnalysisError, "", fmt.Errorf("successCondition %q: %w", successCondition, err)
		}
	}
	if failureCondition != "" {
		if failure, err = evaluate(failureCondition, result); err != nil {
			return v1alpha1.AnalysisError, "", fmt.Errorf("failureCondition %q: %w", failureCondition, err)
		}
	}
	switch {
	case successCondition == "" && failureCondition == "":
		return v1alpha1.AnalysisSuccessful, "no condition set", nil
	case failure:
		return v1alpha1.AnalysisFailed, fmt.Sprintf("failureCondition %q holds", failureCondition), nil
	case successCondition != "" && !success && failureCondition == "":
		return v1alpha1.AnalysisFailed, fmt.Sprintf("successCondition %q does not hold", successCondition), nil
	case successCondition != "" && !success:
		return v1alpha1.AnalysisInconclusive, "neither successCondition nor failureCondition holds", nil
	case success:
		return v1alpha1.AnalysisSuccessful, fmt.Sprintf("successCondition %q holds", successCondition), nil
	default: // only failureCondition, and it does not hold
		return v1alpha1.AnalysisSuccessful, fmt.Sprintf("failureCondition %q does not hold", failureCondition), nil
	}
}

// ValidateMetric reports what would make every measurement of m an Error, so that a controller or marina validate
// can refuse the spec up front: an empty query, an interval that does not parse or is not positive, a condition
// that does not compile or does not return a bool.
func ValidateMetric(m v1alpha1.AnalysisMetric) error {
	if m.Query == "" {
		return fmt.Errorf("metric %s: query is empty", m.Name)
	}
	if m.Interval != "" {
		if d, err := m.Interval.Duration(); err != nil || d <= 0 {
			return fmt.Errorf("metric %s: interval %q is not a positive duration such as 30s or 5m", m.Name, m.Interval)
		}
	}
	for _, c := range []struct{ field, expr string }{{"successCondition", m.SuccessCondition}, {"failureCondition", m.FailureCondition}} {
		if c.expr == "" {
			continue
		}
		if _, err := compile(c.expr); err != nil {
			return fmt.Errorf("metric %s: %s %q: %w", m.Name, c.field, c.expr, err)
		}
	}
	return nil
}
