package scaffold

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// object is an unstructured Kubernetes object or YAML document.
type object = map[string]any

// toMap turns a typed object into its JSON form and drops what a freshly written manifest should not carry: the
// status block of a typed object and null values.
func toMap(v any) (object, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m object
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	dropNulls(m)
	if spec, ok := m["spec"].(map[string]any); ok && len(spec) == 0 {
		delete(m, "spec") // Namespace
	}
	return m, nil
}

func dropNulls(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			dropNulls(e)
		}
	case []any:
		for _, e := range t {
			dropNulls(e)
		}
	}
}

// yamlDocs marshals objects into one multi-document YAML file: keys sorted, 2-space indentation, "---" between
// documents, header comment lines first.
func yamlDocs(header []string, objs ...any) ([]byte, error) {
	var b bytes.Buffer
	for _, h := range header {
		if h == "" {
			b.WriteString("#\n")
			continue
		}
		b.WriteString("# " + h + "\n")
	}
	for i, o := range objs {
		m, err := toMap(o)
		if err != nil {
			return nil, err
		}
		y, err := yaml.Marshal(m)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

// addYAML adds a YAML file built from objs.
func (g *generator) addYAML(path string, header []string, objs ...any) {
	data, err := yamlDocs(header, objs...)
	if err != nil {
		g.fail(fmt.Errorf("scaffold: %s: %w", path, err))
		return
	}
	g.add(path, data)
}

// generatedHeader is the first comment of every generated YAML file.
const generatedHeader = "Written by marina init. Edit freely: marina does not rewrite this file."

// labels are the standard labels of every object marina init writes.
func (g *generator) labels(extra ...string) map[string]string {
	l := map[string]string{
		"app.kubernetes.io/managed-by": "marina",
		"app.kubernetes.io/part-of":    g.o.Name,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

// anyLabels is labels as a generic map for unstructured objects.
func (g *generator) anyLabels(extra ...string) object {
	m := object{}
	for k, v := range g.labels(extra...) {
		m[k] = v
	}
	return m
}

// kustomization is a kustomize.config.k8s.io Kustomization listing resources.
func kustomization(resources []string, extra object) object {
	res := make([]any, len(resources))
	for i, r := range resources {
		res[i] = r
	}
	k := object{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  res,
	}
	for key, v := range extra {
		k[key] = v
	}
	return k
}
