package schemas_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/marina-dev/marina/schemas"
)

type project struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       map[string]any `json:"spec"`
}

const validProject = `apiVersion: marina.dev/v1alpha1
kind: Project
metadata:
  name: demo
spec:
  repository: {url: https://git.example.com/demo.git}
  environments:
    - name: staging
      namespace: models-staging
`

func TestDecodeAcceptsAValidProject(t *testing.T) {
	t.Parallel()
	var p project
	if err := schemas.Decode(schemas.Project, "marina.yaml", []byte(validProject), &p); err != nil {
		t.Fatal(err)
	}
	if p.Metadata["name"] != "demo" {
		t.Fatalf("decoded %+v", p)
	}
}

func TestDecodeReportsFileFieldAndLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, input, want string
	}{
		{"unknown field names its path and line", strings.Replace(validProject, "      namespace: models-staging", "      namespace: models-staging\n      replicas: 3", 1),
			"marina.yaml:10: spec.environments[0].replicas: unknown field"},
		{"wrong type", strings.Replace(validProject, "name: demo", "name: 12", 1), "marina.yaml:4: metadata.name: got number, want string"},
		{"missing required field", strings.Replace(validProject, "      namespace: models-staging\n", "", 1), "marina.yaml:8: spec.environments[0]: missing property 'namespace'"},
		{"duplicate key", validProject + "kind: Project\n", "marina.yaml:10: kind: duplicate key \"kind\""},
		{"alias", "a: &x [1]\nb: *x\n", "marina.yaml:2: b: YAML aliases (*x) are not allowed"},
		{"merge key", "a: {x: 1}\nb:\n  <<: {x: 1}\n", "marina.yaml:3: b: YAML merge keys"},
		{"non-string key", "? [a]\n: 1\n", "mapping keys must be plain strings"},
		{"deep nesting", strings.Repeat("[", 100) + strings.Repeat("]", 100), "nested deeper than 64 levels"},
		{"not utf-8", "a: \xff\n", "marina.yaml: file is not valid UTF-8"},
		{"two documents", validProject + "---\na: 1\n", "more than one document"},
		{"empty", "", "marina.yaml: file is empty"},
		{"syntax error", "a: [1,\n", "marina.yaml"},
		{"too large", "a: " + strings.Repeat("x", schemas.MaxFileSize) + "\n", "larger than the 1048576 byte limit"},
		{"a number out of range", strings.Replace(validProject, "name: demo", "name: -1e309", 1), "marina.yaml:4: metadata.name: -1e309 is a number too large to represent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var p project
			err := schemas.Decode(schemas.Project, "marina.yaml", []byte(c.input), &p)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, schemas.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error\n%v\ndoes not contain\n%s", err, c.want)
			}
		})
	}
}

func TestParseReadsJSON(t *testing.T) {
	t.Parallel()
	doc, err := schemas.Parse("m.json", []byte(`{"a": {"b": [1, 2.5, true, null, "s"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Line("/a/b/1") != 1 {
		t.Fatalf("line of /a/b/1 = %d", doc.Line("/a/b/1"))
	}
	if _, err := schemas.Parse("m.json", []byte(`{"a": 1, "a": 2}`)); err == nil {
		t.Fatal("duplicate JSON key accepted")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{validProject, `{"a": [1, {"b": null}]}`, "a: &x 1\nb: *x\n", "- [[[]]]", "? a\n: b\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := schemas.Parse("f.yaml", data)
		if err != nil {
			if !errors.Is(err, schemas.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		var p project
		_ = doc.Decode(schemas.Project, &p)
	})
}

func TestARelativePathWithDotDotSaysItLeavesItsDirectory(t *testing.T) {
	t.Parallel()
	app := "apiVersion: marina.dev/v1alpha1\nkind: ModelApplication\nmetadata: {name: m}\nspec:\n  model: m\n  config: ../../..\n"
	var v map[string]any
	err := schemas.Decode(schemas.Application, "applications/m/model.yaml", []byte(app), &v)
	if err == nil || !strings.Contains(err.Error(), `spec.config: a path with a ".." segment leaves the directory`) || strings.Contains(err.Error(), "'not' failed") {
		t.Fatalf("error: %v", err)
	}
}
