package release

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
)

// application is a parsed model.yaml that can be edited without losing comments.
type application struct {
	file string
	doc  *schemas.Document
	spec project.ModelApplication
}

func loadApplication(r *repo.Repo, model string) (*application, error) {
	file := project.ApplicationPath(model)
	data, err := r.ReadFile(file, schemas.MaxFileSize)
	if err != nil {
		return nil, err
	}
	return parseApplication(file, data)
}

func parseApplication(file string, data []byte) (*application, error) {
	spec, doc, err := project.ParseApplication(file, data)
	if err != nil {
		return nil, err
	}
	return &application{file: file, doc: doc, spec: *spec}, nil
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
  # Requests and limits for every environment (override them per environment); environments whose
  # policy in marina.yaml has requireLimits refuse a model without limits.
  resources:
    requests: {cpu: 500m, memory: 1Gi}
    limits: {cpu: "1", memory: 2Gi}
  environments: {}
`, project.APIVersion, model, model)
	return parseApplication(project.ApplicationPath(model), []byte(src))
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
	if project.StrategyName(cur) == kind {
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

// bytes re-encodes the YAML tree, checks the result against the schema and
// returns it with the application it now describes.
func (a *application) bytes() ([]byte, *project.ModelApplication, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(a.doc.Root); err != nil {
		return nil, nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, nil, err
	}
	spec, _, err := project.ParseApplication(a.file, buf.Bytes())
	if err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), spec, nil
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
