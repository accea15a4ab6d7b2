package kubeschema

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// skeletonKeys are the keywords of a CRD schema that the API server's defaulting and list-type validation read.
var skeletonKeys = []string{"type", "nullable", "default", "x-kubernetes-list-type", "x-kubernetes-list-map-keys"}

// skeleton returns the part of a CRD's openAPIV3Schema that the API server applies before and beside the schema
// check: the defaults (`default`) and the uniqueness of list-type map and set arrays (x-kubernetes-list-type,
// x-kubernetes-list-map-keys), with the properties, items and additionalProperties that lead to them. It is nil
// when the schema has neither, so most schemas cost nothing. Defaults below allOf/anyOf/oneOf/not are not allowed
// in a structural schema, so junctors are not followed.
func skeleton(s map[string]any) map[string]any {
	out := map[string]any{}
	needed := false
	if props, ok := s["properties"].(map[string]any); ok {
		kept := map[string]any{}
		for name, sub := range props {
			if m, ok := sub.(map[string]any); ok {
				if sk := skeleton(m); sk != nil {
					kept[name] = sk
				}
			}
		}
		if len(kept) > 0 {
			out["properties"] = kept
			needed = true
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if m, ok := s[k].(map[string]any); ok {
			if sk := skeleton(m); sk != nil {
				out[k] = sk
				needed = true
			}
		}
	}
	if _, ok := s["default"]; ok {
		needed = true
	}
	if t, _ := s["x-kubernetes-list-type"].(string); t == "map" || t == "set" {
		needed = true
	}
	if !needed {
		return nil
	}
	for _, k := range skeletonKeys {
		if v, ok := s[k]; ok {
			out[k] = v
		}
	}
	return out
}

// newStructural compiles a skeleton into the API server's structural schema type.
func newStructural(skel map[string]any) (*structuralschema.Structural, error) {
	raw, err := json.Marshal(skel)
	if err != nil {
		return nil, err
	}
	var v1 apiextensionsv1.JSONSchemaProps
	if err := json.Unmarshal(raw, &v1); err != nil {
		return nil, err
	}
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&v1, &internal, nil); err != nil {
		return nil, err
	}
	return structuralschema.NewStructural(&internal)
}

// applyDefaults returns a copy of inst with the schema's defaults applied, as the API server applies them before
// it validates: a required field that has a default, or a oneOf that a default decides, then passes. inst's maps
// and slices are copied, never changed.
func applyDefaults(inst any, s *structuralschema.Structural) any {
	cp := copyJSON(inst)
	structuraldefaulting.Default(cp, s)
	return cp
}

// copyJSON copies the maps and slices of a JSON value; scalars are shared.
func copyJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, sub := range t {
			m[k] = copyJSON(sub)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, sub := range t {
			s[i] = copyJSON(sub)
		}
		return s
	}
	return v
}

// listErrors checks the uniqueness of list-type map and set arrays as the API server does, with its own code.
func listErrors(inst any, s *structuralschema.Structural) []FieldError {
	obj, ok := inst.(map[string]any)
	if !ok {
		return nil
	}
	var out []FieldError
	for _, e := range listtype.ValidateListSetsAndMaps(nil, s, obj) {
		out = append(out, fieldError(inst, fieldTokens(e.Field), listMessage(e)))
	}
	return out
}

func listMessage(e *field.Error) string {
	if e.Type != field.ErrorTypeDuplicate {
		return e.ErrorBody()
	}
	raw, err := json.Marshal(e.BadValue)
	if err != nil {
		return e.ErrorBody()
	}
	if string(raw) == "{}" {
		return "duplicate entry: an earlier entry of this list also leaves its key fields unset (x-kubernetes-list-type: map); the API server rejects it"
	}
	return fmt.Sprintf("duplicate entry %s: an earlier entry of this list has the same value (x-kubernetes-list-type); the API server rejects it", raw)
}

// fieldTokens splits a field path as the API server writes it (spec.listeners[1], metadata.labels[a.b/c]) into
// JSON pointer tokens.
func fieldTokens(p string) []string {
	var out []string
	for p != "" {
		switch p[0] {
		case '.':
			p = p[1:]
		case '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return append(out, p[1:])
			}
			out = append(out, p[1:end])
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			out = append(out, p[:end])
			p = p[end:]
		}
	}
	return out
}
