package render

import (
	"path"

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
		"env":         server.Env,
	}
	// KServe fetches remote artifacts itself (an oci:// one as a modelcar) into /mnt/models. A file in this
	// repository it cannot fetch: no storageUri, and validate's artifact-in-repository says to push it.
	if loc, _ := c.Version.Artifact.Locate(); loc.Remote != "" {
		modelSpec["storageUri"] = loc.Remote
	}
	if _, ok := modelpod.OCIReference(c.Version.Artifact.URI); ok {
		setEnv(server.Env, modelpod.ModelPathEnv, path.Join(kserveModelDir, modelpod.FileName(c.Version.Artifact.File, c.Version.Version, c.Version.Format)))
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
	return c.server("inferenceservice.yaml", "serving.kserve.io/v1beta1", "InferenceService", map[string]any{"predictor": predictor}), nil
}

// kserveModelDir is where KServe's storage initializer or modelcar puts the model.
const kserveModelDir = "/mnt/models"

// setEnv sets the value of the variable name in env.
func setEnv(env []corev1.EnvVar, name, value string) {
	for i := range env {
		if env[i].Name == name {
			env[i].Value = value
		}
	}
}
