package scaffold

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

//go:embed templates/*
var templateFS embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").Funcs(template.FuncMap{
	"join": strings.Join,
	"ns":   namespace,
	"yaml": yamlScalar,
}).ParseFS(templateFS, "templates/*"))

// yamlScalar renders s as a YAML scalar, quoted only when YAML would read it as something else (yes, 1.0, null…).
func yamlScalar(s string) (string, error) {
	b, err := yaml.Marshal(s)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// templateData is what every template sees.
type templateData struct {
	Options
	Namespaces []string
	FirstEnv   string
	LastEnv    string
	ArgoCD     bool
	Flux       bool
	GitHub     bool
	GitLab     bool
}

func (g *generator) data() templateData {
	o := g.o
	ns := make([]string, len(o.Envs))
	for i, e := range o.Envs {
		ns[i] = namespace(e)
	}
	return templateData{
		Options: o, Namespaces: ns, FirstEnv: o.Envs[0], LastEnv: o.Envs[len(o.Envs)-1],
		ArgoCD: o.argocd(), Flux: o.flux(), GitHub: o.github(), GitLab: o.gitlab(),
	}
}

func execTemplate(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("scaffold: template %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// template is a step of Files that writes the template name to path.
func (g *generator) template(path, name string) func() error {
	return func() error {
		g.addTemplate(path, name)
		return nil
	}
}

// addTemplate adds a file rendered from an embedded template.
func (g *generator) addTemplate(path, name string) {
	b, err := execTemplate(name, g.data())
	if err != nil {
		g.fail(err)
		return
	}
	g.add(path, b)
}
