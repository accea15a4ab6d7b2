package charts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"

	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/dryrun"
	"github.com/marina-dev/marina/schemas"
)

// Render returns every object the chart in dir installs as release in namespace: crds/ as they are, templates/
// rendered with values.yaml, over which each of set is merged as helm install --set or -f does (maps merge key by
// key, anything else replaces). Each object names the chart file it comes from.
func Render(dir, release, namespace string, set ...map[string]any) ([]dryrun.Object, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "values.yaml"), err)
	}
	for _, s := range set {
		values = merge(values, s)
	}
	data := map[string]any{"Values": values, "Release": map[string]any{"Name": release, "Namespace": namespace}}
	var objs []dryrun.Object
	for _, pattern := range []string{"crds/*.yaml", "templates/*.yaml"} {
		files, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no files", filepath.Join(dir, pattern))
		}
		for _, f := range files {
			out, err := renderFile(f, data)
			if err != nil {
				return nil, err
			}
			docs, err := schemas.ParseStream(f, out, schemas.MaxManifestSize)
			if err != nil {
				return nil, err
			}
			for _, d := range docs {
				m, ok := d.Value.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s: a document is not an object", f)
				}
				u, err := dryrun.Unstructured(m)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", f, err)
				}
				objs = append(objs, dryrun.Object{File: f, Object: u})
			}
		}
	}
	return objs, nil
}

func renderFile(file string, data map[string]any) ([]byte, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New(filepath.Base(file)).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out.Bytes(), nil
}

// merge returns base with over merged in: nested maps key by key, anything else replaced.
func merge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		b, bok := out[k].(map[string]any)
		o, ook := v.(map[string]any)
		if bok && ook {
			out[k] = merge(b, o)
		} else {
			out[k] = v
		}
	}
	return out
}
