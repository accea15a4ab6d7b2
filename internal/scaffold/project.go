package scaffold

import (
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/project"
)

// Project returns the marina.yaml content for o (after defaults): every environment after the first requires the
// one before it, and the last one gets the strictest policy.
func Project(o Options) project.Project {
	o = o.withDefaults()
	envs := make([]project.Environment, len(o.Envs))
	for i, name := range o.Envs {
		e := project.Environment{Name: name, Namespace: namespace(name)}
		if i > 0 {
			e.Requires = []string{o.Envs[i-1]}
		}
		if i == len(o.Envs)-1 {
			e.Policy = &project.Policy{RequireDigestPinnedImages: true, RequireLimits: true}
		}
		envs[i] = e
	}
	var engines []string
	if o.argocd() {
		engines = append(engines, EngineArgoCD)
	}
	if o.flux() {
		engines = append(engines, EngineFlux)
	}
	minAccuracy, maxRegression := 0.9, 0.01
	return project.Project{
		APIVersion: project.APIVersion,
		Kind:       "Project",
		Metadata:   project.Meta{Name: o.Name},
		Spec: project.ProjectSpec{
			Repository:   project.Repository{URL: o.RepoURL, Branch: o.Branch},
			Environments: envs,
			Traffic:      "gateway",
			Engines:      engines,
			Gates: &project.Gates{
				Accuracy:     &project.AccuracyGate{Min: &minAccuracy, MaxRegression: &maxRegression},
				LatencyP95Ms: &project.MaxGate{Max: 50},
			},
		},
	}
}

func (g *generator) project() error {
	p := Project(g.o)
	y, err := yaml.Marshal(p)
	if err != nil {
		return fmt.Errorf("scaffold: %s: %w", project.ProjectFile, err)
	}
	header := "# marina project configuration: environments (first to last), policies and quality gates.\n" +
		"# marina validate checks it; see README.md for the everyday commands. requireDigestPinnedImages wants\n" +
		"# runtime.image as REGISTRY/NAME@sha256:…, or the image CI built for the version (marina model set-image).\n"
	g.add(project.ProjectFile, append([]byte(header), y...))
	return nil
}

func (g *generator) placeholders() error {
	g.add("applications/.gitkeep", nil)
	g.add("models/.gitkeep", nil)
	return nil
}
