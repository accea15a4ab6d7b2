package render

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/marina-dev/marina/internal/modelpod"
)

// kserve renders a KServe InferenceService with the same model, resources and placement.
func (c *context) kserve() ([]object, error) {
	p, err := c.pod()
	if err != nil {
		return nil, err
	}
	res, server := p.Resources, modelpod.Spec(p).Containers[0]
	modelSpec := map[string]any{
		"modelFormat": map[string]any{"name": c.Version.Format},
		"storageUri":  c.Version.Artifact.URI,
		"env":         server.Env,
	}
	if rt := c.App.Spec.Runtime; rt != nil && rt.Image != "" {
		// A custom image runs as a KServe custom predictor container instead of a built-in runtime.
		modelSpec["image"] = c.image
		modelSpec["args"] = server.Args
		modelSpec["ports"] = []corev1.ContainerPort{{Name: "h2c", ContainerPort: c.port, Protocol: corev1.ProtocolTCP}}
	}
	if len(res.Requests) > 0 || len(res.Limits) > 0 {
		modelSpec["resources"] = res
	}
	if len(server.EnvFrom) > 0 {
		modelSpec["envFrom"] = server.EnvFrom
	}
	predictor := map[string]any{"model": modelSpec}
	if c.autoscaled() {
		predictor["minReplicas"] = c.minReplicas()
		if h := c.settings.Scaling.HPA; h != nil {
			predictor["maxReplicas"] = h.Max
			if h.CPUUtilization != 0 {
				predictor["scaleMetric"] = "cpu"
				predictor["scaleTarget"] = h.CPUUtilization
			}
		} else {
			predictor["maxReplicas"] = c.settings.Scaling.KEDA.Max
		}
	} else {
		predictor["minReplicas"] = c.replicas()
		predictor["maxReplicas"] = c.replicas()
	}
	if len(c.settings.NodeSelector) > 0 {
		predictor["nodeSelector"] = c.settings.NodeSelector
	}
	if t := tolerations(c.settings.Tolerations); len(t) > 0 {
		predictor["tolerations"] = t
	}
	meta := c.meta(c.name)
	meta["annotations"] = c.annotations()
	return []object{{file: "inferenceservice.yaml", obj: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1",
		"kind":       "InferenceService",
		"metadata":   meta,
		"spec":       map[string]any{"predictor": predictor},
	}}}, nil
}
