package render

import (
	"cmp"
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
	"github.com/marina-dev/marina/internal/project"
)

// marina renders a ModelDeployment for marina's controller, which owns the
// Deployments, Services and traffic split of the rollout.
func (c *context) marina() ([]object, error) {
	res, err := c.resources()
	if err != nil {
		return nil, err
	}
	// The controller builds the pod with modelpod as plain does: refuse here what it would refuse there.
	if _, err := c.pod(); err != nil {
		return nil, err
	}
	runtime := map[string]any{"image": c.image, "port": c.port}
	if rt := c.App.Spec.Runtime; rt != nil && rt.Artifact != nil {
		runtime["artifact"] = rt.Artifact
	}
	if len(res.Requests) > 0 || len(res.Limits) > 0 {
		runtime["resources"] = res
	}
	if len(c.settings.NodeSelector) > 0 {
		runtime["nodeSelector"] = c.settings.NodeSelector
	}
	if t := tolerations(c.settings.Tolerations); len(t) > 0 {
		runtime["tolerations"] = t
	}
	artifact := map[string]any{
		"uri":    c.Version.Artifact.URI,
		"digest": c.Version.Artifact.Digest,
		"size":   c.Version.Artifact.Size,
		"format": c.Version.Format,
	}
	if f := c.Version.Artifact.File; f != "" {
		artifact["file"] = f
	}
	spec := map[string]any{
		"model":    c.name,
		"version":  c.Version.Version,
		"artifact": artifact,
		"runtime":  runtime,
	}
	if !c.autoscaled() {
		spec["replicas"] = c.replicas()
	}
	if c.configMap != "" {
		spec["config"] = map[string]any{"configMapName": c.configMap}
	}
	if s := c.settings.Scaling; s != nil {
		spec["scaling"] = s
	}
	if s := c.settings.Strategy; s != nil {
		spec["strategy"] = s
	}
	if r := c.settings.Router; r != nil {
		spec["router"] = r
	}
	if a := c.settings.Analysis; a != nil {
		templates, err := c.analysisTemplates(a)
		if err != nil {
			return nil, err
		}
		spec["analysis"] = map[string]any{"templates": templates}
	}
	if w := c.settings.WriteBack; w != nil {
		wb, err := c.gitWriteBack(w)
		if err != nil {
			return nil, err
		}
		spec["gitWriteBack"] = wb
	}
	return c.server("modeldeployment.yaml", "marina.dev/v1alpha1", "ModelDeployment", spec), nil
}

// analysisTemplates expands the built-in analyses a turns on into templates over the router's metrics of this
// model, namespace and version.
func (c *context) analysisTemplates(a *project.AnalysisSpec) ([]v1alpha1.AnalysisTemplate, error) {
	field := c.field("analysis", c.App.Spec.Environments[c.Env].Analysis != nil)
	o := analysis.BuiltinOptions{Namespace: c.namespace, Model: c.name, Version: c.Version.Version,
		Window: a.Window, MinSamples: a.MinSamples, Interval: a.Interval, Count: a.Count}
	if p := a.Prometheus; p != nil {
		if _, err := analysis.ParseAddress(p.Address); err != nil {
			return nil, fmt.Errorf("%s: %s.prometheus.address: %w", c.appFile, field, err)
		}
		o.Prometheus = &v1alpha1.PrometheusProvider{Address: p.Address}
		if p.SecretRef != "" {
			o.Prometheus.SecretRef = &corev1.LocalObjectReference{Name: p.SecretRef}
		}
	}
	return analysis.BuiltinTemplates(c.appFile+": "+field, a.Builtin, o)
}

// gitWriteBack is the ModelDeployment's spec.gitWriteBack for model.yaml's writeBack: this repository, as
// marina.yaml's spec.repository names it, is where marina controller writes an aborted rollout's revert.
func (c *context) gitWriteBack(w *project.WriteBack) (map[string]any, error) {
	field := c.field("writeBack", c.App.Spec.Environments[c.Env].WriteBack != nil)
	repo := c.Project.Spec.Repository
	if repo.URL == "" {
		return nil, fmt.Errorf("%s: %s: %s has no spec.repository.url, the repository marina controller writes an aborted rollout's revert to: set it to this repository's https:// clone URL, or remove %s",
			c.appFile, field, project.ProjectFile, field)
	}
	u, err := url.Parse(repo.URL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %s: %s spec.repository.url is not a URL (an scp-like git@host:path is SSH), and marina controller writes back over HTTP(S) only: use the repository's https:// clone URL, or remove %s",
			c.appFile, field, project.ProjectFile, field)
	case (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return nil, fmt.Errorf("%s: %s: %s spec.repository.url %s is not an http(s) URL, and marina controller writes back over HTTP(S) only: use the repository's https:// clone URL, or remove %s",
			c.appFile, field, project.ProjectFile, u.Redacted(), field)
	case u.User != nil:
		return nil, fmt.Errorf("%s: %s: %s spec.repository.url carries user information, which would be written into the ModelDeployment: remove it from the URL and put the credentials in the Secret %s.secretRef names",
			c.appFile, field, project.ProjectFile, field)
	}
	wb := map[string]any{"repo": repo.URL, "mode": cmp.Or(w.Mode, project.WriteBackCommit)}
	if pr := w.PullRequest; pr != nil {
		if wb["mode"] != project.WriteBackPullRequest {
			return nil, fmt.Errorf("%s: %s.pullRequest goes with mode pr: set %s.mode: pr, or remove %s.pullRequest", c.appFile, field, field, field)
		}
		p := map[string]any{"forge": pr.Forge}
		if len(pr.Labels) > 0 {
			labels := make([]any, len(pr.Labels))
			for i, l := range pr.Labels {
				labels[i] = l
			}
			p["labels"] = labels
		}
		wb["pullRequest"] = p
	}
	if repo.Branch != "" {
		wb["branch"] = repo.Branch
	}
	if w.SecretRef != "" {
		wb["secretRef"] = map[string]any{"name": w.SecretRef}
	}
	return wb, nil
}
