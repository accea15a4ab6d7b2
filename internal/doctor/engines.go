package doctor

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/marina-dev/marina/internal/project"
)

// The GitOps engines' kinds, read as unstructured objects so marina needs neither engine's Go module.
var (
	argoApplicationGVK   = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "ApplicationList"}
	fluxGitRepositoryGVK = schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "GitRepositoryList"}
	fluxKustomizationGVK = schema.GroupVersionKind{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "KustomizationList"}
)

// checkEngines checks each GitOps engine marina.yaml lists.
func (d *doctor) checkEngines(ctx context.Context) []Check {
	engines := d.Project.Spec.Engines
	var out []Check
	for _, e := range []struct {
		engine, check string
		run           func(context.Context) []Check
	}{{project.EngineArgoCD, CheckArgoCD, d.checkArgoCD}, {project.EngineFlux, CheckFlux, d.checkFlux}} {
		if slices.Contains(engines, e.engine) {
			out = append(out, e.run(ctx)...)
		} else {
			out = append(out, Check{Name: e.check, Status: Skip, Evidence: project.ProjectFile + " does not list " + e.engine + " in spec.engines"})
		}
	}
	return out
}

// listEngine lists an engine's objects of kind gvk (what, in messages). When it cannot, it returns the check that
// says why instead: absent, which names the fix, when the API server does not serve gvk; a read error otherwise.
func (d *doctor) listEngine(ctx context.Context, gvk schema.GroupVersionKind, what string, absent Check) (*unstructured.UnstructuredList, []Check) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(gvk)
	err := d.Client.List(ctx, l)
	if notServed(err) {
		return nil, []Check{absent}
	}
	if err != nil {
		return nil, []Check{readError(Check{Name: absent.Name}, what, err)}
	}
	return l, nil
}

// checkArgoCD finds the Argo CD Applications that pull this repository and reports each one's sync and health.
func (d *doctor) checkArgoCD(ctx context.Context) []Check {
	repoURL := d.Project.Spec.Repository.URL
	apps, failed := d.listEngine(ctx, argoApplicationGVK, "Argo CD Applications", Check{Name: CheckArgoCD, Status: Fail,
		Evidence: "Argo CD is not installed: the API server serves no argoproj.io/v1alpha1 Application",
		Fix:      "install Argo CD (https://argo-cd.readthedocs.io/en/stable/getting_started/) in namespace " + project.ArgoCDNamespace + ", then kubectl apply -k gitops/argocd"})
	if failed != nil {
		return failed
	}
	var out []Check
	for i := range apps.Items {
		app := &apps.Items[i]
		if !argoPulls(app, repoURL) {
			continue
		}
		out = append(out, d.argoApplication(app))
	}
	if len(out) == 0 {
		return []Check{{Name: CheckArgoCD, Status: Fail,
			Evidence: fmt.Sprintf("no Argo CD Application pulls %s (%s in the cluster)", repoURL, plural(len(apps.Items), "Application")),
			Fix:      "bootstrap the repository once: kubectl apply -k gitops/argocd (its root Application creates the others); check spec.repository.url in marina.yaml"}}
	}
	return out
}

// argoPulls reports whether an Application has repoURL among its sources.
func argoPulls(app *unstructured.Unstructured, repoURL string) bool {
	if u, _, _ := unstructured.NestedString(app.Object, "spec", "source", "repoURL"); sameRepo(u, repoURL) {
		return true
	}
	sources, _, _ := unstructured.NestedSlice(app.Object, "spec", "sources")
	for _, s := range sources {
		if m, ok := s.(map[string]any); ok {
			if u, _ := m["repoURL"].(string); sameRepo(u, repoURL) {
				return true
			}
		}
	}
	return false
}

// argoApplication judges one Application: Synced and Healthy passes; still progressing warns.
func (d *doctor) argoApplication(app *unstructured.Unstructured) Check {
	c := Check{Name: CheckArgoCD, Target: "Application " + app.GetNamespace() + "/" + app.GetName()}
	sync, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status")
	health, _, _ := unstructured.NestedString(app.Object, "status", "health", "status")
	c.Evidence = fmt.Sprintf("sync %s, health %s", orUnknown(sync), orUnknown(health))
	if sync == "Synced" && health == "Healthy" {
		c.Status = Pass
		return c
	}
	var details []string
	if m, _, _ := unstructured.NestedString(app.Object, "status", "health", "message"); m != "" {
		details = append(details, "health: "+m)
	}
	for _, cd := range conditions(app) {
		if cd.message != "" {
			details = append(details, cd.typ+": "+cd.message)
		}
	}
	phase, _, _ := unstructured.NestedString(app.Object, "status", "operationState", "phase")
	if m, _, _ := unstructured.NestedString(app.Object, "status", "operationState", "message"); m != "" {
		details = append(details, fmt.Sprintf("last sync (%s): %s", orUnknown(phase), m))
	}
	if len(details) > 0 {
		c.Evidence += "; " + strings.Join(details, "; ")
	}
	name := app.GetName()
	if _, ok := condition(app, "ComparisonError"); ok {
		// Argo CD cannot build the manifests from Git (the repository refuses it, a manifest does not build): a sync
		// running meanwhile cannot succeed either.
		c.Status = Fail
		c.Fix = "Argo CD cannot build the manifests from Git: fix what the ComparisonError says (the repository's credentials, argocd repo list; or the manifests, marina validate), then argocd app get " + name + " --refresh"
		return c
	}
	message, _, _ := unstructured.NestedString(app.Object, "status", "operationState", "message")
	// "Retrying attempt #N at TIME" while a failed sync waits for its backoff, "Retrying operation. Attempt #N" while
	// it runs again.
	if phase == "Running" && (strings.Contains(message, "Retrying attempt") || strings.Contains(message, "Retrying operation")) {
		// A failed sync being retried: Argo CD syncs no newer commit until the retries end.
		c.Status = Fail
		c.Fix = "fix the manifest in Git; Argo CD retries the failing revision before it syncs a newer commit, so after pushing the fix run argocd app terminate-op " + name
		if files := d.sourceFiles(append(details, argoFailedResources(app)...)...); len(files) > 0 {
			c.Fix = "fix " + strings.Join(files, ", ") + " (marina validate --server shows the server's complaint) and push; Argo CD retries the failing revision before it syncs a newer commit, so then run argocd app terminate-op " + name
		}
		return c
	}
	if (health == "Progressing" || health == "Suspended") && sync == "Synced" || phase == "Running" {
		c.Status = Warn
		c.Fix = "wait for the sync to finish (argocd app wait " + name + "), then run marina doctor again"
		return c
	}
	c.Status = Fail
	c.Fix = "argocd app get " + name + " shows the failing resources; fix them in Git (marina validate --server catches most), then argocd app sync " + name
	if files := d.sourceFiles(append(details, argoFailedResources(app)...)...); len(files) > 0 {
		c.Fix = "fix " + strings.Join(files, ", ") + " (marina validate --server shows the server's complaint), push, then argocd app sync " + name
	}
	return c
}

// checkFlux finds the GitRepository for this repository and the Kustomizations that use it, and reports Ready.
func (d *doctor) checkFlux(ctx context.Context) []Check {
	repoURL := d.Project.Spec.Repository.URL
	repos, failed := d.listEngine(ctx, fluxGitRepositoryGVK, "Flux GitRepositories", Check{Name: CheckFlux, Status: Fail,
		Evidence: "Flux is not installed: the API server serves no source.toolkit.fluxcd.io/v1 GitRepository",
		Fix:      "install Flux (flux install, or flux bootstrap) in namespace " + project.FluxNamespace + ", then kubectl apply -k gitops/flux"})
	if failed != nil {
		return failed
	}
	ks, failed := d.listEngine(ctx, fluxKustomizationGVK, "Flux Kustomizations", Check{Name: CheckFlux, Status: Fail,
		Evidence: "Flux's kustomize-controller is not installed: the API server serves no kustomize.toolkit.fluxcd.io/v1 Kustomization",
		Fix:      "install Flux with its kustomize-controller (flux install), then kubectl apply -k gitops/flux"})
	if failed != nil {
		return failed
	}
	var out []Check
	for i := range repos.Items {
		r := &repos.Items[i]
		if u, _, _ := unstructured.NestedString(r.Object, "spec", "url"); !sameRepo(u, repoURL) {
			continue
		}
		out = append(out, d.fluxReady(r, "GitRepository", "flux reconcile source git "+r.GetName()+" -n "+r.GetNamespace()))
		for j := range ks.Items {
			k := &ks.Items[j]
			kind, _, _ := unstructured.NestedString(k.Object, "spec", "sourceRef", "kind")
			name, _, _ := unstructured.NestedString(k.Object, "spec", "sourceRef", "name")
			ns, _, _ := unstructured.NestedString(k.Object, "spec", "sourceRef", "namespace")
			if ns == "" {
				ns = k.GetNamespace()
			}
			if kind == "GitRepository" && name == r.GetName() && ns == r.GetNamespace() {
				out = append(out, d.fluxReady(k, "Kustomization", "flux reconcile kustomization "+k.GetName()+" -n "+k.GetNamespace()+" --with-source"))
			}
		}
	}
	if len(out) == 0 {
		return []Check{{Name: CheckFlux, Status: Fail,
			Evidence: fmt.Sprintf("no Flux GitRepository pulls %s (%s in the cluster)", repoURL, plural(len(repos.Items), "GitRepository")),
			Fix:      "bootstrap the repository once: kubectl apply -k gitops/flux; check spec.repository.url in marina.yaml"}}
	}
	return out
}

// fluxReady judges a Flux object by its Ready condition, as flux get does.
func (d *doctor) fluxReady(u *unstructured.Unstructured, kind, reconcile string) Check {
	c := Check{Name: CheckFlux, Target: kind + " " + u.GetNamespace() + "/" + u.GetName()}
	ready, found := condition(u, "Ready")
	if suspended, _, _ := unstructured.NestedBool(u.Object, "spec", "suspend"); suspended {
		c.Status = Warn
		c.Evidence = "suspended" + ready.describe()
		c.Fix = "flux resume " + strings.ToLower(kind) + " " + u.GetName() + " -n " + u.GetNamespace()
		return c
	}
	switch {
	case !found:
		c.Status = Warn
		c.Evidence = "no Ready condition yet: Flux has not reconciled it"
		c.Fix = "check that Flux's controllers run (flux check), then " + reconcile
	case ready.status == "True":
		c.Status = Pass
		c.Evidence = "Ready" + ready.describe()
	case ready.status == "Unknown":
		c.Status = Warn
		c.Evidence = "reconciling" + ready.describe()
		c.Fix = "wait for it, or " + reconcile
	default:
		c.Status = Fail
		c.Evidence = "not Ready" + ready.describe()
		c.Fix = "fix what the message names (in Git, or the credentials Secret for a source), then " + reconcile
		if files := d.sourceFiles(ready.message); len(files) > 0 {
			c.Fix = "fix " + strings.Join(files, ", ") + " (marina validate --server shows the server's complaint), push, then " + reconcile
		}
	}
	return c
}

// objectRef finds the objects an engine's message names: Flux writes Kind/namespace/name, Argo CD and the API
// server Kind.group "name".
var objectRef = regexp.MustCompile(`\b([A-Z][A-Za-z0-9]*)(?:\.[a-z0-9.-]+)?(?:/([a-z0-9][a-z0-9.-]*))?/([a-z0-9][a-z0-9.-]*)|\b([A-Z][A-Za-z0-9]*)(?:\.[a-z0-9.-]+)? "([a-z0-9][a-z0-9.-]*)"`)

// fluxSources are the kinds a Flux message names as the source of a Kustomization.
var fluxSources = map[string]bool{"GitRepository": true, "OCIRepository": true, "Bucket": true}

// sourceFiles returns the repository files of the objects texts name (each text a message, or a reference
// Kind/namespace/name), sorted and without duplicates.
func (d *doctor) sourceFiles(texts ...string) []string {
	var files []string
	for _, text := range texts {
		for _, m := range objectRef.FindAllStringSubmatch(text, -1) {
			kind, ns, name := m[1], m[2], m[3]
			if kind == "" {
				kind, name = m[4], m[5]
			}
			if fluxSources[kind] {
				continue // "Source 'GitRepository/flux-system/x' not ready" is not a file to fix
			}
			if f := d.sourceOf(kind, ns, name); f != "" && !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	slices.Sort(files)
	return files
}

// sourceOf is the file of the object kind/ns/name; without a namespace, of the one object of that kind and name.
func (d *doctor) sourceOf(kind, ns, name string) string {
	if ns != "" {
		return d.Sources[kind+"/"+ns+"/"+name]
	}
	if f, ok := d.Sources[kind+"/"+name]; ok {
		return f
	}
	var found string
	for key, f := range d.Sources {
		k, rest, _ := strings.Cut(key, "/")
		if _, n, ok := strings.Cut(rest, "/"); ok && k == kind && n == name {
			if found != "" && found != f {
				return "" // two namespaces deploy it: the message does not say which
			}
			found = f
		}
	}
	return found
}

// argoFailedResources lists the resources an Application's last sync could not apply, as Kind/namespace/name.
func argoFailedResources(app *unstructured.Unstructured) []string {
	resources, _, _ := unstructured.NestedSlice(app.Object, "status", "operationState", "syncResult", "resources")
	var out []string
	for _, r := range resources {
		m, _ := r.(map[string]any)
		if status, _ := m["status"].(string); status != "SyncFailed" {
			continue
		}
		kind, _ := m["kind"].(string)
		ns, _ := m["namespace"].(string)
		name, _ := m["name"].(string)
		if ns != "" {
			out = append(out, kind+"/"+ns+"/"+name)
		} else {
			out = append(out, kind+"/"+name)
		}
	}
	return out
}

// notServed reports whether a list failed because the kind is not served: no match in discovery, or a 404 from a
// server whose CRD was removed after the client learnt the kind.
func notServed(err error) bool {
	return meta.IsNoMatchError(err) || apierrors.IsNotFound(err)
}

// sameRepo compares Git URLs the way users write them: scheme, host case, a trailing slash and .git do not matter.
func sameRepo(a, b string) bool {
	return a != "" && normalizeRepo(a) == normalizeRepo(b)
}

func normalizeRepo(s string) string {
	s = strings.TrimSpace(s)
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		s = strings.ToLower(u.Host) + u.Path
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git")
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}
