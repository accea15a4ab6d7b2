package kubeschema

import "strings"

// toJSONSchema converts a CRD's openAPIV3Schema (OpenAPI 3.0 structural schema) into a JSON Schema draft 2020-12
// document that validates the way the API server prunes and checks:
//   - nullable: true adds "null" to the type (and to an enum);
//   - x-kubernetes-int-or-string: true (and format: int-or-string, its spelling in the built-in OpenAPI) accepts an
//     integer or a string;
//   - an anyOf/oneOf whose branches only name distinct types (IntOrString, Quantity) becomes a list of types, which
//     validates faster and reports one message instead of one per branch;
//   - an allOf holding only a $ref (how the built-in OpenAPI attaches a description to a reference) becomes the
//     $ref; references into #/components/schemas/ point into #/$defs/;
//   - x-kubernetes-preserve-unknown-fields: true keeps unknown fields; otherwise an object that declares properties
//     gets additionalProperties: false, because the server would drop (or, with strict field validation, reject)
//     anything else;
//   - x-kubernetes-embedded-resource: true implies apiVersion, kind and metadata;
//   - OpenAPI 3.0's boolean exclusiveMinimum/exclusiveMaximum become draft 2020-12 numbers;
//   - the root accepts apiVersion, kind and an ObjectMeta-shaped metadata.
//
// Other x-kubernetes-* extensions (list types, map types, CEL validations), OpenAPI-only keywords and annotations
// that never fail a validation (description, default, example, title, format) are dropped: the builtin bundle
// carries hundreds of schemas.
func toJSONSchema(openAPI map[string]any) map[string]any {
	out := convert(openAPI, false)
	out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	props, _ := out["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		out["properties"] = props
	}
	if _, ok := props["apiVersion"]; !ok {
		props["apiVersion"] = map[string]any{"type": "string"}
	}
	if _, ok := props["kind"]; !ok {
		props["kind"] = map[string]any{"type": "string"}
	}
	props["metadata"] = objectMeta()
	if _, ok := out["type"]; !ok {
		out["type"] = "object"
	}
	if !isTrue(openAPI["x-kubernetes-preserve-unknown-fields"]) {
		out["additionalProperties"] = false
	}
	return out
}

// convert converts one schema node. inJunctor is true below allOf/anyOf/oneOf/not, where a structural schema may only
// add value validations: declaring properties there must not forbid the fields declared beside the junctor.
func convert(s map[string]any, inJunctor bool) map[string]any {
	out := make(map[string]any, len(s))
	for k, v := range s {
		switch k {
		case "properties":
			m, _ := v.(map[string]any)
			props := make(map[string]any, len(m))
			for name, sub := range m {
				if subm, ok := sub.(map[string]any); ok {
					props[name] = convert(subm, inJunctor)
				}
			}
			out[k] = props
		case "items", "not":
			if m, ok := v.(map[string]any); ok {
				out[k] = convert(m, inJunctor || k == "not")
			}
		case "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = convert(m, inJunctor)
			} else {
				out[k] = v
			}
		case "allOf", "anyOf", "oneOf":
			list, _ := v.([]any)
			conv := make([]any, 0, len(list))
			for _, item := range list {
				if m, ok := item.(map[string]any); ok {
					conv = append(conv, convert(m, true))
				}
			}
			out[k] = conv
		case "$ref":
			if ref, ok := v.(string); ok {
				if name, ok := strings.CutPrefix(ref, componentsPrefix); ok {
					v = defsPrefix + name
				}
			}
			out[k] = v
		case "exclusiveMinimum", "exclusiveMaximum", "nullable", "example", "externalDocs", "discriminator",
			"readOnly", "writeOnly", "xml", "deprecated", "description", "default", "title", "examples", "format":
			// handled below, OpenAPI-only, or annotations
		default:
			if strings.HasPrefix(k, "x-") {
				continue
			}
			out[k] = v
		}
	}
	if isTrue(s["exclusiveMinimum"]) {
		if m, ok := out["minimum"]; ok {
			out["exclusiveMinimum"] = m
			delete(out, "minimum")
		}
	}
	if isTrue(s["exclusiveMaximum"]) {
		if m, ok := out["maximum"]; ok {
			out["exclusiveMaximum"] = m
			delete(out, "maximum")
		}
	}
	hoistRef(out)
	typeList(out, "anyOf")
	typeList(out, "oneOf")
	if isTrue(s["x-kubernetes-int-or-string"]) || s["format"] == "int-or-string" {
		delete(out, "type")
		if _, ok := out["anyOf"]; !ok {
			out["type"] = []any{"integer", "string"}
		}
	}
	if isTrue(s["x-kubernetes-embedded-resource"]) {
		props, _ := out["properties"].(map[string]any)
		if props != nil {
			for _, f := range []string{"apiVersion", "kind"} {
				if _, ok := props[f]; !ok {
					props[f] = map[string]any{"type": "string"}
				}
			}
			if _, ok := props["metadata"]; !ok {
				props["metadata"] = map[string]any{"type": "object"}
			}
		}
	}
	_, hasProps := out["properties"]
	_, hasAdditional := out["additionalProperties"]
	if hasProps && !hasAdditional && !inJunctor && !isTrue(s["x-kubernetes-preserve-unknown-fields"]) {
		out["additionalProperties"] = false
	}
	if isTrue(s["nullable"]) {
		switch t := out["type"].(type) {
		case string:
			out["type"] = []any{t, "null"}
		case []any:
			out["type"] = append(t, "null")
		}
		if enum, ok := out["enum"].([]any); ok {
			out["enum"] = append(enum, nil)
		}
	}
	return out
}

// hoistRef replaces allOf: [{$ref: X}] with $ref: X.
func hoistRef(out map[string]any) {
	list, _ := out["allOf"].([]any)
	if len(list) != 1 {
		return
	}
	only, _ := list[0].(map[string]any)
	ref, ok := only["$ref"]
	if !ok || len(only) != 1 {
		return
	}
	if _, taken := out["$ref"]; taken {
		return
	}
	out["$ref"] = ref
	delete(out, "allOf")
}

// typeList replaces an anyOf or oneOf whose branches are each only {type: T} with type: [T…], when that accepts the
// same values: for oneOf the types must not overlap (integer is a number).
func typeList(out map[string]any, junctor string) {
	list, _ := out[junctor].([]any)
	if len(list) < 2 {
		return
	}
	if _, ok := out["type"]; ok {
		return
	}
	types := make([]any, 0, len(list))
	seen := map[string]bool{}
	for _, b := range list {
		m, _ := b.(map[string]any)
		t, ok := m["type"].(string)
		if !ok || len(m) != 1 || seen[t] {
			return
		}
		seen[t] = true
		types = append(types, t)
	}
	if junctor == "oneOf" && seen["integer"] && seen["number"] {
		return
	}
	out["type"] = types
	delete(out, junctor)
}

// objectMeta is the schema of metadata at the root of a custom resource: the API server decodes it as ObjectMeta.
func objectMeta() map[string]any {
	str := func() map[string]any { return map[string]any{"type": "string"} }
	strMap := func() map[string]any {
		return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}
	}
	nullableStr := func() map[string]any { return map[string]any{"type": []any{"string", "null"}} }
	return map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"properties": map[string]any{
			"name":                       str(),
			"generateName":               str(),
			"namespace":                  str(),
			"selfLink":                   str(),
			"uid":                        str(),
			"resourceVersion":            str(),
			"generation":                 map[string]any{"type": "integer"},
			"creationTimestamp":          nullableStr(),
			"deletionTimestamp":          nullableStr(),
			"deletionGracePeriodSeconds": map[string]any{"type": "integer"},
			"labels":                     strMap(),
			"annotations":                strMap(),
			"finalizers":                 map[string]any{"type": "array", "items": str()},
			"ownerReferences":            map[string]any{"type": "array", "items": map[string]any{"type": "object"}},
			"managedFields":              map[string]any{"type": "array", "items": map[string]any{"type": "object"}},
		},
	}
}

func isTrue(v any) bool {
	b, ok := v.(bool)
	return ok && b
}
