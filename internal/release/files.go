package release

import (
	"bytes"
	"fmt"
	"path"

	"go.yaml.in/yaml/v3"

	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
)

// LoadProject reads and checks marina.yaml.
func LoadProject(r *repo.Repo) (*project.Project, error) {
	data, err := r.ReadFile(project.ProjectFile, schemas.MaxFileSize)
	if err != nil {
		return nil, err
	}
	var p project.Project
	if err := schemas.Decode(schemas.Project, project.ProjectFile, data, &p); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, e := range p.Spec.Environments {
		if seen[e.Name] {
			return nil, fieldError(project.ProjectFile, fmt.Sprintf("spec.environments[%d].name", i), "environment %q is listed twice", e.Name)
		}
		seen[e.Name] = true
		for _, req := range e.Requires {
			if !seen[req] {
				return nil, fieldError(project.ProjectFile, fmt.Sprintf("spec.environments[%d].requires", i), "%q must be an environment listed before %q", req, e.Name)
			}
		}
	}
	return &p, nil
}

func fieldError(file, field, format string, args ...any) error {
	return &schemas.FileError{File: file, Problems: []schemas.Problem{{Path: field, Message: fmt.Sprintf(format, args...)}}}
}

// ApplicationFile is the path of a model's model.yaml.
func ApplicationFile(model string) string {
	return path.Join(project.ApplicationsDir, model, project.ApplicationFile)
}

// application is a parsed model.yaml that can be edited without losing comments.
type application struct {
	file string
	doc  *schemas.Document
	spec project.ModelApplication
}

func loadApplication(r *repo.Repo, model string) (*application, error) {
	file := ApplicationFile(model)
	data, err := r.ReadFile(file, schemas.MaxFileSize)
	if err != nil {
		return nil, err
	}
	return parseApplication(file, data)
}

func parseApplication(file string, data []byte) (*application, error) {
	doc, err := schemas.Parse(file, data)
	if err != nil {
		return nil, err
	}
	a := &application{file: file, doc: doc}
	if err := doc.Decode(schemas.Application, &a.spec); err != nil {
		return nil, err
	}
	return a, nil
}

// newApplication is the model.yaml promote writes for a model deployed for the first time.
func newApplication(model string) (*application, error) {
	src := fmt.Sprintf(`apiVersion: %s
kind: ModelApplication
metadata:
  name: %s
spec:
  model: %s
  backend: plain
  environments: {}
`, project.APIVersion, model, model)
	return parseApplication(ApplicationFile(model), []byte(src))
}

// setVersion sets spec.environments.<env>.version in the YAML tree, keeping comments.
func (a *application) setVersion(env, version string) {
	envNode := a.envNode(env, true)
	setScalar(envNode, "version", version)
}

// setStrategy sets spec.environments.<env>.strategy to a default of kind, unless the env already uses that kind.
func (a *application) setStrategy(env, kind string) error {
	cur := a.spec.Spec.Environments[env].Strategy
	if cur == nil {
		cur = a.spec.Spec.Strategy
	}
	if cur.StrategyName() == kind {
		return nil
	}
	var src string
	switch kind {
	case "canary":
		src = "canary:\n  steps:\n    - setWeight: 20\n    - pause: {duration: 5m}\n    - setWeight: 50\n    - pause: {duration: 5m}\n"
	case "bluegreen":
		src = "blueGreen:\n  autoPromote: false\n  scaleDownDelay: 30s\n"
	case "shadow":
		src = "shadow:\n  percent: 100\n  duration: 30m\n"
	default:
		return fmt.Errorf("unknown strategy %q: use canary, bluegreen or shadow", kind)
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		return err
	}
	setNode(a.envNode(env, true), "strategy", n.Content[0])
	return nil
}

func (a *application) envNode(env string, create bool) *yaml.Node {
	root := a.doc.Root
	if root.Kind == yaml.DocumentNode {
		root = root.Content[0]
	}
	spec := child(root, "spec", create)
	envs := child(spec, "environments", create)
	if envs != nil && envs.Style == yaml.FlowStyle && create {
		envs.Style = 0
	}
	return child(envs, env, create)
}

// bytes re-encodes the YAML tree and checks the result against the schema.
func (a *application) bytes() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(a.doc.Root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	if _, err := parseApplication(a.file, buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func child(m *yaml.Node, key string, create bool) *yaml.Node {
	if m == nil {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	if !create {
		return nil
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, n)
	return n
}

func setScalar(m *yaml.Node, key, value string) {
	setNode(m, key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

func setNode(m *yaml.Node, key string, v *yaml.Node) {
	if m.Style == yaml.FlowStyle {
		m.Style = 0
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v.HeadComment, v.LineComment = m.Content[i+1].HeadComment, m.Content[i+1].LineComment
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}
