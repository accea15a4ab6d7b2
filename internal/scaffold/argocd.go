package scaffold

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/project"
)

const (
	argoAPIVersion   = "argoproj.io/v1alpha1"
	argoNamespace    = project.ArgoCDNamespace
	argoDir          = "gitops/argocd"
	inClusterServer  = "https://kubernetes.default.svc"
	argoHealthKey    = "resource.customizations.health.marina.dev_ModelDeployment"
	argoSyncWaveAnno = "argocd.argoproj.io/sync-wave"
)

// argoCD writes gitops/argocd/: the bootstrap kustomization (AppProject, argocd-cm health check, root Application)
// and apps/, which the root Application syncs (App of Apps): the infrastructure Applications and the
// ApplicationSet that turns every applications/<model>/<env>/ directory into an Application.
func (g *generator) argoCD() error {
	o := g.o
	g.addYAML(argoDir+"/kustomization.yaml", []string{generatedHeader,
		"Bootstrap once with: kubectl apply -k " + argoDir + "  (Argo CD must already run in namespace argocd).",
		"The root Application then keeps apps/ in sync."},
		kustomization([]string{"appproject.yaml", "argocd-cm.yaml", "root.yaml"}, nil))
	g.addYAML(argoDir+"/appproject.yaml", []string{generatedHeader}, g.appProject())
	cm, err := g.argoCM()
	if err != nil {
		return err
	}
	g.addYAML(argoDir+"/argocd-cm.yaml", []string{generatedHeader,
		"Argo CD does not treat Ready=True as Healthy for custom resources without a health check: this teaches it",
		"the ModelDeployment conditions. kubectl apply merges these keys into an existing argocd-cm."}, cm)
	g.addYAML(argoDir+"/root.yaml", []string{generatedHeader,
		"App of Apps: syncs " + argoDir + "/apps, which holds every other Application of this repository."},
		g.application(o.Name+"-root", argoDir+"/apps", argoNamespace, nil, nil))

	g.addYAML(argoDir+"/apps/kustomization.yaml", []string{generatedHeader},
		kustomization([]string{"infrastructure.yaml", "applicationset.yaml"}, nil))
	infra := []any{g.application(o.Name+"-infrastructure", infraBaseDir, systemNamespace, object{argoSyncWaveAnno: "-2"}, nil)}
	for _, env := range o.Envs {
		infra = append(infra, g.application(o.Name+"-infra-"+env, infraOverlayPrefix+env, namespace(env),
			object{argoSyncWaveAnno: "-1"}, []string{environmentLabel, env}))
	}
	g.addYAML(argoDir+"/apps/infrastructure.yaml", []string{generatedHeader,
		"Infrastructure first (sync waves -2, -1): cluster-wide base, then one Application per environment."}, infra...)
	g.addYAML(argoDir+"/apps/applicationset.yaml", []string{generatedHeader,
		"One Application per model and environment: applications/<model>/<env>/ holds the manifests",
		"marina render --write writes them (promote and rollback commit them); <env> selects the namespace models-<env>."}, g.applicationSet())
	return nil
}

func (g *generator) appProject() object {
	o := g.o
	var dests []any
	for _, ns := range append(append([]string{}, g.data().Namespaces...), systemNamespace, devicePluginNS, argoNamespace) {
		dests = append(dests, object{"server": inClusterServer, "namespace": ns})
	}
	return object{
		"apiVersion": argoAPIVersion,
		"kind":       "AppProject",
		"metadata":   object{"name": o.Name, "namespace": argoNamespace, "labels": g.anyLabels()},
		"spec": object{
			"description":  "marina project " + o.Name + ": models and their infrastructure",
			"sourceRepos":  []any{o.RepoURL},
			"destinations": dests,
			"clusterResourceWhitelist": []any{
				object{"group": "", "kind": "Namespace"},
				object{"group": "rbac.authorization.k8s.io", "kind": "ClusterRole"},
				object{"group": "rbac.authorization.k8s.io", "kind": "ClusterRoleBinding"},
			},
		},
	}
}

// syncPolicy syncs automatically, pruning and undoing drift. HPAs own replicas, so a difference there is ignored
// when comparing and left alone when syncing.
func syncPolicy() object {
	return object{
		"automated":   object{"prune": true, "selfHeal": true},
		"syncOptions": []any{"RespectIgnoreDifferences=true"},
	}
}

func ignoreReplicas() []any {
	return []any{object{"group": "apps", "kind": "Deployment", "jsonPointers": []any{"/spec/replicas"}}}
}

func (g *generator) application(name, path, destNS string, annotations object, extraLabels []string) object {
	md := object{"name": name, "namespace": argoNamespace, "labels": g.anyLabels(extraLabels...)}
	if annotations != nil {
		md["annotations"] = annotations
	}
	return object{
		"apiVersion": argoAPIVersion,
		"kind":       "Application",
		"metadata":   md,
		"spec": object{
			"project":     g.o.Name,
			"source":      object{"repoURL": g.o.RepoURL, "targetRevision": g.o.Branch, "path": path},
			"destination": object{"server": inClusterServer, "namespace": destNS},
			"syncPolicy":  syncPolicy(),
		},
	}
}

func (g *generator) applicationSet() object {
	o := g.o
	// Only directories of known environments become Applications, so a stray directory cannot target a namespace
	// outside the AppProject.
	var dirs []any
	for _, env := range o.Envs {
		dirs = append(dirs, object{"path": "applications/*/" + env})
	}
	return object{
		"apiVersion": argoAPIVersion,
		"kind":       "ApplicationSet",
		"metadata":   object{"name": o.Name + "-models", "namespace": argoNamespace, "labels": g.anyLabels()},
		"spec": object{
			"goTemplate":        true,
			"goTemplateOptions": []any{"missingkey=error"},
			"generators": []any{object{"git": object{
				"repoURL":     o.RepoURL,
				"revision":    o.Branch,
				"directories": dirs,
			}}},
			"template": object{
				"metadata": object{
					"name": "{{ index .path.segments 1 }}-{{ .path.basename }}",
					"labels": object{
						"app.kubernetes.io/managed-by": "marina",
						"app.kubernetes.io/part-of":    o.Name,
						v1alpha1.LabelModel:            "{{ index .path.segments 1 }}",
						environmentLabel:               "{{ .path.basename }}",
					},
				},
				"spec": object{
					"project":           o.Name,
					"source":            object{"repoURL": o.RepoURL, "targetRevision": o.Branch, "path": "{{ .path.path }}"},
					"destination":       object{"server": inClusterServer, "namespace": nsPrefix + "{{ .path.basename }}"},
					"syncPolicy":        syncPolicy(),
					"ignoreDifferences": ignoreReplicas(),
				},
			},
		},
	}
}

func (g *generator) argoCM() (*corev1.ConfigMap, error) {
	lua, err := execTemplate("modeldeployment-health.lua", nil)
	if err != nil {
		return nil, err
	}
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "argocd-cm", Namespace: argoNamespace, Labels: map[string]string{
			"app.kubernetes.io/managed-by": "marina",
			"app.kubernetes.io/name":       "argocd-cm",
			"app.kubernetes.io/part-of":    "argocd",
		}},
		Data: map[string]string{argoHealthKey: string(lua)},
	}, nil
}
