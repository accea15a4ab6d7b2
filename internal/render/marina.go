package render

import (
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
	meta := c.meta(c.name)
	meta["annotations"] = c.annotations()
	return []object{{file: "modeldeployment.yaml", obj: map[string]any{
		"apiVersion": "marina.dev/v1alpha1",
		"kind":       "ModelDeployment",
		"metadata":   meta,
		"spec":       spec,
	}}}, nil
}

// analysisTemplates expands the built-in analyses a turns on into templates over the router's metrics of this
// model, namespace and version.
func (c *context) analysisTemplates(a *project.AnalysisSpec) ([]v1alpha1.AnalysisTemplate, error) {
	field := "spec.analysis"
	if e := c.App.Spec.Environments[c.Env]; e.Analysis != nil {
		field = "spec.environments." + c.Env + ".analysis"
	}
	o := analysis.BuiltinOptions{Namespace: c.namespace, Model: c.name, Version: c.Version.Version,
		Window: a.Window, MinSamples: a.MinSamples, Interval: a.Interval, Count: a.Count}
	if p := a.Prometheus; p != nil {
		o.Prometheus = &v1alpha1.PrometheusProvider{Address: p.Address}
		if p.SecretRef != "" {
			o.Prometheus.SecretRef = &corev1.LocalObjectReference{Name: p.SecretRef}
		}
	}
	return analysis.BuiltinTemplates(c.appFile+": "+field, a.Builtin, o)
}
