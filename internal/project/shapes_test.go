package project_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/project"
)

// model.yaml's strategy, scaling and router are copied as they are into the ModelDeployments render writes.
// Strategy and scaling are the API's types (project.Settings uses v1alpha1's), so model.yaml's JSON Schema must name
// their fields; router has a type of its own in model.yaml (its tolerations are model.yaml's), which must name the
// API's fields too.
func TestStrategyScalingAndRouterHaveOneShapeInModelYAMLTheAPIAndTheSchema(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "schemas", "application.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	defs := schema["$defs"].(map[string]any)
	for _, tc := range []struct {
		name      string
		modelYAML reflect.Type
		api       reflect.Type // nil: model.yaml uses the API's type itself
	}{
		{"strategy", reflect.TypeFor[v1alpha1.Strategy](), nil},
		{"scaling", reflect.TypeFor[v1alpha1.Scaling](), nil},
		{"router", reflect.TypeFor[project.Router](), reflect.TypeFor[v1alpha1.Router]()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fromModelYAML := goFields(tc.modelYAML, "")
			fromSchema := schemaFields(defs, defs[tc.name].(map[string]any), "")
			if tc.api != nil {
				if fromAPI := goFields(tc.api, ""); !slices.Equal(fromModelYAML, fromAPI) {
					t.Errorf("model.yaml's %s and v1alpha1.%s differ:\n model.yaml %s\n API        %s", tc.modelYAML, tc.api.Name(), fromModelYAML, fromAPI)
				}
			}
			if !slices.Equal(fromModelYAML, fromSchema) {
				t.Errorf("model.yaml's %s and application.schema.json's $defs.%s differ:\n Go     %s\n schema %s", tc.modelYAML, tc.name, fromModelYAML, fromSchema)
			}
		})
	}
}

// goFields lists the JSON paths of t's fields, sorted ("canary.steps[].setWeight").
func goFields(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice {
			prefix += "[]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := join(prefix, name)
		out = append(out, p)
		out = append(out, goFields(f.Type, p)...)
	}
	slices.Sort(out)
	return out
}

// schemaFields lists the JSON paths a JSON Schema node allows, sorted, following $ref into defs.
func schemaFields(defs, node map[string]any, prefix string) []string {
	if ref, ok := node["$ref"].(string); ok {
		return schemaFields(defs, defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any), prefix)
	}
	var out []string
	if items, ok := node["items"].(map[string]any); ok {
		out = append(out, schemaFields(defs, items, prefix+"[]")...)
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		subs, _ := node[key].([]any)
		for _, s := range subs {
			out = append(out, schemaFields(defs, s.(map[string]any), prefix)...)
		}
	}
	props, _ := node["properties"].(map[string]any)
	for name, sub := range props {
		p := join(prefix, name)
		out = append(out, p)
		out = append(out, schemaFields(defs, sub.(map[string]any), p)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
