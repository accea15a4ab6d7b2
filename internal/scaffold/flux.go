package scaffold

import (
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/render"
)

const (
	fluxSourceAPIVersion    = "source.toolkit.fluxcd.io/v1"
	fluxKustomizeAPIVersion = "kustomize.toolkit.fluxcd.io/v1"
	fluxNamespace           = project.FluxNamespace
	fluxDir                 = "gitops/flux"
)

// fluxCD writes gitops/flux/: a GitRepository, a Kustomization that keeps gitops/flux itself in sync, one
// infrastructure Kustomization for the cluster-wide base and one per environment, and one apps Kustomization per
// environment whose path, gitops/flux/apps/<env>/, lists the rendered applications/<model>/<env>/ directories.
func (g *generator) fluxCD() error {
	o := g.o
	g.addYAML(fluxDir+"/kustomization.yaml", []string{generatedHeader,
		"Bootstrap once with: kubectl apply -k " + fluxDir + "  (Flux must already run in namespace flux-system).",
		"The " + o.Name + " Kustomization then keeps this directory in sync."},
		kustomization([]string{"gitrepository.yaml", "infrastructure.yaml", "apps.yaml"}, nil))
	g.addYAML(fluxDir+"/gitrepository.yaml", []string{generatedHeader,
		"The repository, and the Kustomization that keeps " + fluxDir + " itself in sync."},
		object{
			"apiVersion": fluxSourceAPIVersion,
			"kind":       "GitRepository",
			"metadata":   object{"name": o.Name, "namespace": fluxNamespace, "labels": g.anyLabels()},
			"spec": object{
				"interval": "1m",
				"url":      o.RepoURL,
				"ref":      object{"branch": o.Branch},
			},
		},
		g.fluxKustomization(o.Name, "./"+fluxDir, "", nil, false, nil))

	base := o.Name + "-infrastructure"
	infra := []any{g.fluxKustomization(base, "./"+infraBaseDir, "", nil, true, nil)}
	for _, env := range o.Envs {
		// Environments depend on the cluster-wide base only: a broken staging quota must not block prod's.
		infra = append(infra, g.fluxKustomization(o.Name+"-infra-"+env, "./"+infraOverlayPrefix+env, "", []string{base}, true,
			[]string{environmentLabel, env}))
	}
	g.addYAML(fluxDir+"/infrastructure.yaml", []string{generatedHeader,
		"Cluster-wide base first, then one Kustomization per environment."}, infra...)

	var apps []any
	for _, env := range o.Envs {
		apps = append(apps, g.fluxKustomization(o.Name+"-apps-"+env, "./"+fluxDir+"/apps/"+env, namespace(env),
			[]string{o.Name + "-infra-" + env}, true, []string{environmentLabel, env}))
		// marina render maintains this index; init writes its empty form.
		index := render.FluxIndexFile(env, nil)
		g.add(index.Path, index.Data)
	}
	g.addYAML(fluxDir+"/apps.yaml", []string{generatedHeader,
		"One Kustomization per environment for its rendered applications, after that environment's infrastructure."},
		apps...)
	return nil
}

func (g *generator) fluxKustomization(name, path, targetNS string, dependsOn []string, wait bool, extraLabels []string) object {
	spec := object{
		"interval":  "10m",
		"path":      path,
		"prune":     true,
		"sourceRef": object{"kind": "GitRepository", "name": g.o.Name},
		"timeout":   "5m",
	}
	if wait {
		spec["wait"] = true
	}
	if targetNS != "" {
		spec["targetNamespace"] = targetNS
	}
	if len(dependsOn) > 0 {
		deps := make([]any, len(dependsOn))
		for i, d := range dependsOn {
			deps[i] = object{"name": d}
		}
		spec["dependsOn"] = deps
	}
	return object{
		"apiVersion": fluxKustomizeAPIVersion,
		"kind":       "Kustomization",
		"metadata":   object{"name": name, "namespace": fluxNamespace, "labels": g.anyLabels(extraLabels...)},
		"spec":       spec,
	}
}
