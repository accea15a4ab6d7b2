package kubeschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// componentsPrefix starts every reference in a Kubernetes OpenAPI v3 document; the converted schemas keep the
// referenced definitions under $defs instead.
const (
	componentsPrefix = "#/components/schemas/"
	defsPrefix       = "#/$defs/"
)

// quantityPattern is the pattern controller-gen gives resource.Quantity: the API server rejects any other string.
const quantityPattern = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`

// KindsFromOpenAPI converts one Kubernetes OpenAPI v3 document (a file of api/openapi-spec/v3 in k8s.io/kubernetes,
// or the API server's /openapi/v3/<group-version>) into one self-contained JSON Schema per top-level kind, keyed by
// "apiVersion kind" (e.g. "apps/v1 Deployment"). A top-level kind is one the document's paths create or replace
// (POST or PUT) under its own group and version; lists, options and subresources of other groups (Scale, Eviction)
// are left out. Each schema holds the definitions it references, transitively, under $defs.
func KindsFromOpenAPI(spec []byte) (map[string]map[string]any, error) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("OpenAPI document: %w", err)
	}
	defs := doc.Components.Schemas
	if len(defs) == 0 {
		return nil, errors.New("OpenAPI document: no components.schemas")
	}
	roots := map[string]string{} // "apiVersion kind" → definition name
	for path, ops := range doc.Paths {
		gv, ok := pathGroupVersion(path)
		if !ok {
			continue
		}
		for method, raw := range ops {
			if method != "post" && method != "put" {
				continue
			}
			var op struct {
				Action string `json:"x-kubernetes-action"`
				GVK    *struct {
					Group, Version, Kind string
				} `json:"x-kubernetes-group-version-kind"`
				RequestBody struct {
					Content map[string]struct {
						Schema struct {
							Ref string `json:"$ref"`
						} `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("OpenAPI document: %s %s: %w", method, path, err)
			}
			if op.GVK == nil || (op.Action != "post" && op.Action != "put") {
				continue
			}
			apiVersion := op.GVK.Version
			if op.GVK.Group != "" {
				apiVersion = op.GVK.Group + "/" + op.GVK.Version
			}
			if apiVersion != gv {
				continue
			}
			for _, c := range op.RequestBody.Content {
				if name, ok := strings.CutPrefix(c.Schema.Ref, componentsPrefix); ok {
					roots[apiVersion+" "+op.GVK.Kind] = name
				}
			}
		}
	}
	if len(roots) == 0 {
		return nil, errors.New("OpenAPI document: no kind is created or replaced under its own group and version")
	}
	converted := map[string]map[string]any{}
	out := make(map[string]map[string]any, len(roots))
	for key, root := range roots {
		names, err := closure(defs, root)
		if err != nil {
			return nil, fmt.Errorf("OpenAPI document: %s: %w", key, err)
		}
		sub := make(map[string]any, len(names))
		for _, name := range names {
			c, ok := converted[name]
			if !ok {
				c = convertDefinition(name, defs[name])
				converted[name] = c
			}
			sub[name] = c
		}
		out[key] = map[string]any{
			"$schema": "https://json-schema.org/draft/2020-12/schema",
			"$ref":    defsPrefix + root,
			"$defs":   sub,
		}
	}
	return out, nil
}

// pathGroupVersion returns the apiVersion a REST path serves: /api/v1/… is "v1", /apis/apps/v1/… is "apps/v1".
func pathGroupVersion(path string) (string, bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		return parts[1], true
	case len(parts) >= 3 && parts[0] == "apis":
		return parts[1] + "/" + parts[2], true
	}
	return "", false
}

// closure lists root and every definition it references, transitively, sorted.
func closure(defs map[string]map[string]any, root string) ([]string, error) {
	seen := map[string]bool{}
	var missing error
	var visit func(name string)
	var walk func(v any)
	visit = func(name string) {
		if seen[name] {
			return
		}
		def, ok := defs[name]
		if !ok {
			missing = fmt.Errorf("reference to missing definition %s", name)
			return
		}
		seen[name] = true
		walk(def)
	}
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, sub := range v {
				if s, ok := sub.(string); ok && k == "$ref" {
					if name, ok := strings.CutPrefix(s, componentsPrefix); ok {
						visit(name)
					}
					continue
				}
				walk(sub)
			}
		case []any:
			for _, sub := range v {
				walk(sub)
			}
		}
	}
	visit(root)
	if missing != nil {
		return nil, missing
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// convertDefinition converts one definition of a built-in type. Quantity gets the pattern the API server enforces
// when it decodes one.
func convertDefinition(name string, def map[string]any) map[string]any {
	out := convert(def, false)
	if name == "io.k8s.apimachinery.pkg.api.resource.Quantity" {
		out["pattern"] = quantityPattern
	}
	return out
}
