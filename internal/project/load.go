package project

import (
	"fmt"
	"path"

	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
)

// ApplicationPath is the path of a model's model.yaml.
func ApplicationPath(model string) string {
	return path.Join(ApplicationsDir, model, ApplicationFile)
}

// Load reads and checks marina.yaml: its schema, then that environment names are
// unique and every environment requires only environments listed before it.
func Load(r *repo.Repo) (*Project, error) {
	data, err := r.ReadFile(ProjectFile, schemas.MaxFileSize)
	if err != nil {
		return nil, err
	}
	var p Project
	if err := schemas.Decode(schemas.Project, ProjectFile, data, &p); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, e := range p.Spec.Environments {
		if seen[e.Name] {
			return nil, fieldError(ProjectFile, fmt.Sprintf("spec.environments[%d].name", i), "environment %q is listed twice", e.Name)
		}
		seen[e.Name] = true
		for _, req := range e.Requires {
			if !seen[req] {
				return nil, fieldError(ProjectFile, fmt.Sprintf("spec.environments[%d].requires", i), "%q must be an environment listed before %q", req, e.Name)
			}
		}
	}
	return &p, nil
}

func fieldError(file, field, format string, args ...any) error {
	return &schemas.FileError{File: file, Problems: []schemas.Problem{{Path: field, Message: fmt.Sprintf(format, args...)}}}
}

// ParseApplication checks a model.yaml's content and decodes it, keeping the parsed
// document for edits that preserve comments.
func ParseApplication(file string, data []byte) (*ModelApplication, *schemas.Document, error) {
	doc, err := schemas.Parse(file, data)
	if err != nil {
		return nil, nil, err
	}
	a, err := DecodeApplication(doc)
	if err != nil {
		return nil, nil, err
	}
	return a, doc, nil
}

// DecodeApplication is ParseApplication of a document already parsed.
func DecodeApplication(doc *schemas.Document) (*ModelApplication, error) {
	var a ModelApplication
	if err := doc.Decode(schemas.Application, &a); err != nil {
		return nil, err
	}
	file := doc.File
	if want := path.Base(path.Dir(file)); path.Dir(path.Dir(file)) == ApplicationsDir && a.Spec.Model != want {
		return nil, fieldError(file, "spec.model", "%q does not match the directory %s; an application deploys the model it is named after", a.Spec.Model, path.Dir(file))
	}
	return &a, nil
}

// LoadApplication reads applications/<model>/model.yaml.
func LoadApplication(r *repo.Repo, model string) (*ModelApplication, *schemas.Document, error) {
	file := ApplicationPath(model)
	data, err := r.ReadFile(file, schemas.MaxFileSize)
	if err != nil {
		return nil, nil, err
	}
	return ParseApplication(file, data)
}
