package kubeschema_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/kubeschema"
)

// fields lists the field paths of a validation error; nil for a valid object.
func fields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var verr *kubeschema.Error
	if !errors.As(err, &verr) {
		t.Fatalf("want *kubeschema.Error, got %v", err)
	}
	out := []string{}
	for _, f := range verr.Fields {
		out = append(out, f.Field)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// mutations derives invalid (and some valid) variants of an object: every scalar replaced by a value of another type,
// every map given an unknown field, every map field removed.
func mutations(t *testing.T, doc string) []map[string]any {
	var out []map[string]any
	paths := [][]any{}
	var walk func(v any, path []any)
	walk = func(v any, path []any) {
		paths = append(paths, slices.Clone(path))
		switch x := v.(type) {
		case map[string]any:
			for k, sub := range x {
				walk(sub, append(path, k))
			}
		case []any:
			for i, sub := range x {
				walk(sub, append(path, i))
			}
		}
	}
	walk(object(t, doc), nil)
	for _, p := range paths {
		for _, replacement := range []any{"text", 7, true, []any{1}, map[string]any{"zz": 1}, nil, "deleted"} {
			m := object(t, doc)
			if len(p) == 0 {
				continue
			}
			var parent any = m
			for _, step := range p[:len(p)-1] {
				switch s := step.(type) {
				case string:
					parent = parent.(map[string]any)[s]
				case int:
					parent = parent.([]any)[s]
				}
			}
			switch s := p[len(p)-1].(type) {
			case string:
				if replacement == "deleted" {
					delete(parent.(map[string]any), s)
				} else {
					parent.(map[string]any)[s] = replacement
				}
			case int:
				if replacement == "deleted" {
					continue
				}
				parent.([]any)[s] = replacement
			}
			out = append(out, m)
		}
	}
	return out
}

func TestFastValidatorAgreesWithTheGeneralOne(t *testing.T) {
	t.Parallel()
	v := builtin(t)
	docs := map[string]string{"Application": argoApplication}
	for k, d := range validBuiltinObjects {
		docs[k] = d
	}
	for name, doc := range docs {
		t.Run("agree on every mutation of a "+name, func(t *testing.T) {
			t.Parallel()
			compared, invalid := 0, 0
			for i, m := range mutations(t, doc) {
				if m["apiVersion"] == nil || m["kind"] == nil {
					continue
				}
				if _, ok := m["kind"].(string); !ok {
					continue
				}
				if _, ok := m["apiVersion"].(string); !ok {
					continue
				}
				fast, general := v.Validate(m), v.ValidateGeneral(m)
				if errors.Is(fast, kubeschema.ErrUnknownKind) {
					continue
				}
				f, g := fields(t, fast), fields(t, general)
				compared++
				if g != nil {
					invalid++
				}
				if (f == nil) != (g == nil) || !slices.Equal(f, g) {
					t.Errorf("mutation %d: fast %v, general %v\nfast: %v\ngeneral: %v", i, f, g, fast, general)
				}
			}
			if invalid < compared/2 {
				t.Fatalf("only %d of %d mutations are invalid: the mutations do not exercise the schema", invalid, compared)
			}
			t.Logf("%d mutations, %d invalid", compared, invalid)
		})
	}
}

func TestFastValidatorTakesEveryBuiltinSchema(t *testing.T) {
	t.Parallel()
	v := builtin(t)
	for _, k := range v.Kinds() {
		apiVersion, kind, _ := strings.Cut(k, " ")
		_ = v.Validate(map[string]any{"apiVersion": apiVersion, "kind": kind})
	}
	_, general := v.FastKinds()
	if len(general) > 0 {
		t.Fatalf("left to the general validator: %s", fmt.Sprint(general))
	}
}
