package validate

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/modelpod"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/scaffold"
)

// gpuResource is the extended resource of NVIDIA's device plugin.
const gpuResource = project.GPUResource

// setting is a resolved deployment setting and where in model.yaml it came from: an environment's override, else
// the spec-level value (render resolves field by field the same way).
type setting[T any] struct {
	value T
	keys  []string // JSON pointer keys in model.yaml
}

func (s setting[T]) field() string { return strings.Join(s.keys, ".") }

func resolve[T any](a *application, env string, get func(project.Settings) T, isSet func(T) bool, key string) setting[T] {
	if es, ok := a.spec.Spec.Environments[env]; ok {
		if v := get(es.Settings); isSet(v) {
			return setting[T]{v, []string{"spec", "environments", env, key}}
		}
	}
	return setting[T]{get(a.spec.Spec.Settings), []string{"spec", key}}
}

func resources(a *application, env string) setting[*project.Resources] {
	return resolve(a, env, func(s project.Settings) *project.Resources { return s.Resources },
		func(r *project.Resources) bool { return r != nil }, "resources")
}

func tolerations(a *application, env string) setting[[]project.Toleration] {
	return resolve(a, env, func(s project.Settings) []project.Toleration { return s.Tolerations },
		func(t []project.Toleration) bool { return t != nil }, "tolerations")
}

func nodeSelector(a *application, env string) setting[map[string]string] {
	return resolve(a, env, func(s project.Settings) map[string]string { return s.NodeSelector },
		func(m map[string]string) bool { return m != nil }, "nodeSelector")
}

// gpus is the number of GPUs one replica requests (or is limited to, whichever is larger).
func gpus(r *project.Resources) int64 {
	if r == nil {
		return 0
	}
	var n int64
	for _, m := range []map[string]string{r.Requests, r.Limits} {
		if q, err := resource.ParseQuantity(m[gpuResource]); err == nil && q.Value() > n {
			n = q.Value()
		}
	}
	return n
}

// maxPods is the most replicas an application may run in env: its replicas, or its autoscaler's maximum.
func maxPods(a *application, env string) (int64, string) {
	replicas := resolve(a, env, func(s project.Settings) *int32 { return s.Replicas }, func(p *int32) bool { return p != nil }, "replicas")
	scaling := resolve(a, env, func(s project.Settings) *v1alpha1.Scaling { return s.Scaling }, func(p *v1alpha1.Scaling) bool { return p != nil }, "scaling")
	n, why := int64(1), "1 replica"
	if replicas.value != nil {
		n, why = int64(*replicas.value), fmt.Sprintf("%d replicas", *replicas.value)
	}
	if s := scaling.value; s != nil {
		switch {
		case s.HPA != nil && int64(s.HPA.Max) > n:
			n, why = int64(s.HPA.Max), fmt.Sprintf("up to %d replicas (hpa.max)", s.HPA.Max)
		case s.KEDA != nil && int64(s.KEDA.Max) > n:
			n, why = int64(s.KEDA.Max), fmt.Sprintf("up to %d replicas (keda.max)", s.KEDA.Max)
		}
	}
	return n, why
}

// checkPolicy applies the environment's policy and the GPU rules to one application; v is nil when the deployed
// version is not readable.
func (v *validation) checkPolicy(a *application, env string, mv *model.Version) []Finding {
	var out []Finding
	var pol project.Policy
	if v.project != nil {
		if e, ok := v.project.Environment(env); ok && e.Policy != nil {
			pol = *e.Policy
		}
	}
	res := resources(a, env)
	if pol.RequireLimits {
		var missing []string
		for _, r := range []string{"cpu", "memory"} {
			if res.value == nil || res.value.Limits[r] == "" {
				missing = append(missing, r)
			}
		}
		if len(missing) > 0 {
			out = append(out, finding("policy-limits", a.file, res.field()+".limits", a.line(append(res.keys, "limits")...),
				"set "+strings.Join(missing, " and ")+" under resources.limits, at spec level or in spec.environments."+env,
				"environment %q requires CPU and memory limits; %s has no %s limit", env, a.spec.Metadata.Name, strings.Join(missing, " or ")))
		}
	}
	if pol.RequireDigestPinnedImages {
		// The serving image CI built and recorded for the version wins over model.yaml's.
		image, field, line := render.DefaultImage, "spec.runtime.image", a.line("spec", "runtime", "image")
		if mv != nil && mv.Image != nil && mv.Image.Digest != "" {
			image = mv.Image.String()
		} else if a.spec.Spec.Runtime != nil && a.spec.Spec.Runtime.Image != "" {
			image = a.spec.Spec.Runtime.Image
		}
		if !strings.Contains(image, "@sha256:") {
			what := fmt.Sprintf("image %q is not pinned by digest", image)
			if a.spec.Spec.Runtime == nil || a.spec.Spec.Runtime.Image == "" {
				what = fmt.Sprintf("spec.runtime.image is not set, and the default %s is not pinned by digest", image)
			}
			out = append(out, finding("policy-digest", a.file, field, line,
				"write spec.runtime.image as registry/name@sha256:<digest>, or record the image CI built for the version: marina model set-image "+a.spec.Spec.Model+"@VERSION --image REGISTRY/REPOSITORY@sha256:DIGEST",
				"environment %q requires images pinned by digest; %s", env, what))
		}
	}
	if pol.RequireDigestPinnedImages {
		out = append(out, checkPullImage(a, env, mv)...)
	}
	if pol.RequireSignedArtifacts && mv != nil {
		out = append(out, v.checkSigned(a, env, mv)...)
	}
	if gpus(res.value) > 0 {
		tol := tolerations(a, env)
		tolerated := false
		for _, t := range tol.value {
			if t.Key == gpuResource || (t.Key == "" && t.Operator == "Exists") {
				tolerated = true
			}
		}
		if !tolerated {
			out = append(out, finding("gpu-toleration", a.file, tol.field(), a.line(tol.keys...),
				"add {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule} to tolerations",
				"%s requests %s in %q but has no toleration for %s", a.spec.Metadata.Name, gpuResource, env, gpuResource))
		}
		if ns := nodeSelector(a, env); len(ns.value) == 0 {
			out = append(out, finding("gpu-node-selector", a.file, ns.field(), a.line(ns.keys...),
				"add nodeSelector: {nvidia.com/gpu.present: \"true\"}",
				"%s requests %s in %q but has no nodeSelector", a.spec.Metadata.Name, gpuResource, env))
		}
	}
	return out
}

// checkPullImage applies requireDigestPinnedImages to the init container that pulls an oci:// artifact: it runs in
// the pod as the server does.
func checkPullImage(a *application, env string, mv *model.Version) []Finding {
	if mv == nil {
		return nil
	}
	if _, ok := modelpod.OCIReference(mv.Artifact.URI); !ok {
		return nil
	}
	image, set := modelpod.PullImage, a.spec.Spec.Runtime != nil && a.spec.Spec.Runtime.Artifact != nil
	if set && a.spec.Spec.Runtime.Artifact.Via == modelpod.ViaImageVolume {
		return nil // the volume is pinned by the artifact's digest, and nothing runs
	}
	if set && a.spec.Spec.Runtime.Artifact.PullImage != "" {
		image = a.spec.Spec.Runtime.Artifact.PullImage
	}
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	return []Finding{finding("policy-digest", a.file, "spec.runtime.artifact.pullImage", a.line("spec", "runtime", "artifact", "pullImage"),
		"write spec.runtime.artifact.pullImage as registry/name@sha256:<digest> (marina's image, "+modelpod.PullImage+", by the digest of its release)",
		"environment %q requires images pinned by digest; %s@%s is pulled by an init container running %s, which is not", env, mv.Name, mv.Version, image)}
}

// checkQuota checks that the GPU models of an environment fit its ResourceQuota: an overlay's quota replaces the
// base's; of several quota objects the smallest binds.
func (v *validation) checkQuota(e project.Environment) []Finding {
	var bind *quota
	for _, level := range []string{e.Name, ""} {
		for i := range v.quotas {
			q := &v.quotas[i]
			if q.env == level && (bind == nil || q.gpus < bind.gpus || (q.gpus == bind.gpus && q.file < bind.file)) {
				bind = q
			}
		}
		if bind != nil {
			break
		}
	}
	if bind == nil {
		return nil
	}
	type need struct {
		app  *application
		gpus int64
		why  string
	}
	var needs []need
	var total int64
	for _, a := range v.apps {
		if a.spec == nil {
			continue
		}
		if _, ok := a.spec.Spec.Environments[e.Name]; !ok {
			continue
		}
		g := gpus(resources(a, e.Name).value)
		if g == 0 {
			continue
		}
		pods, why := maxPods(a, e.Name)
		needs = append(needs, need{a, g * pods, fmt.Sprintf("%s × %d GPU", why, g)})
		total += g * pods
	}
	slices.SortFunc(needs, func(a, b need) int { return cmp.Compare(a.app.file, b.app.file) })
	var out []Finding
	hint := "lower replicas or the autoscaler maximum, or raise requests.nvidia.com/gpu in infrastructure/overlays/" + e.Name + "/"
	var parts []string
	alone := false
	for _, n := range needs {
		parts = append(parts, fmt.Sprintf("%s %d", n.app.spec.Metadata.Name, n.gpus))
		if n.gpus > bind.gpus {
			alone = true
			out = append(out, finding("gpu-quota", n.app.file, "spec.environments."+e.Name, n.app.line("spec", "environments", e.Name), hint,
				"%s needs %d GPUs in %q (%s), over the quota of %d in %s", n.app.spec.Metadata.Name, n.gpus, e.Name, n.why, bind.gpus, bind.file))
		}
	}
	if !alone && total > bind.gpus {
		out = append(out, finding("gpu-quota", bind.file, "spec.hard[\"requests.nvidia.com/gpu\"]", bind.line, hint,
			"the GPU models of %q need %d GPUs together (%s), over this quota of %d", e.Name, total, strings.Join(parts, ", "), bind.gpus))
	}
	return out
}

// checkGates judges the deployed version with the gates of marina.yaml (package gate,
// which marina ci uses too). A gate whose metric is not recorded is a note here: ci,
// which decides whether a change may land, fails it.
func (v *validation) checkGates(a *application, env string, mv *model.Version) []Finding {
	if v.project == nil || v.project.Spec.Gates == nil {
		return nil
	}
	field := "spec.environments." + env + ".version"
	line := a.line("spec", "environments", env, "version")
	var out []Finding
	for _, r := range gate.Check(v.project.Spec.Gates, mv, v.reference(a)) {
		if r.Passed {
			continue
		}
		id := mv.Name + "@" + mv.Version + ": "
		switch {
		case r.Value == nil:
			out = append(out, finding("gate-metric-missing", a.file, field, line, "run the command in the message: it records the metric on the registered version in one commit", "%s%s", id, r.Message))
		case r.Gate == gate.LatencyP95Max:
			out = append(out, finding("gate-latency", a.file, field, line, "deploy a version that meets spec.gates.latencyP95Ms.max in marina.yaml", "%s%s", id, r.Message))
		default:
			out = append(out, finding("gate-accuracy", a.file, field, line, "deploy a version that meets spec.gates.accuracy in marina.yaml", "%s%s", id, r.Message))
		}
	}
	return out
}

// reference is the version regressions are measured against: the one the application deploys in the last environment.
func (v *validation) reference(a *application) gate.Reference {
	envs := v.project.Spec.Environments
	last := envs[len(envs)-1].Name
	ref := gate.Reference{Env: last}
	if ls, ok := a.spec.Spec.Environments[last]; ok {
		if lv := v.versions[model.File(a.spec.Spec.Model, ls.Version)]; lv != nil {
			ref.Version = lv.v
		}
	}
	return ref
}

// checkGatesPresent warns when marina.yaml sets no gates at all.
// checkRepoURL notes the placeholder URL marina init writes when no --repo-url is given.
func (v *validation) checkRepoURL() []Finding {
	if u := v.project.Spec.Repository.URL; u != scaffold.DefaultRepoURL(v.project.Metadata.Name) {
		return nil
	}
	out := []Finding{finding("repo-url-placeholder", "marina.yaml", "spec.repository.url", v.projectLine("/spec/repository/url"),
		"replace it in marina.yaml and gitops/ with the URL Argo CD and Flux pull this repository from",
		"%s is the placeholder marina init writes without --repo-url", v.project.Spec.Repository.URL)}
	return append(out, v.checkWriteBackToPlaceholder()...)
}

// checkWriteBackToPlaceholder reports every writeBack of a backend marina model, called only while marina.yaml
// names the placeholder repository: the controller would push an aborted rollout's revert there, and fail.
func (v *validation) checkWriteBackToPlaceholder() []Finding {
	var out []Finding
	for _, d := range slices.Sorted(maps.Keys(v.apps)) {
		a := v.apps[d]
		if a.spec == nil || a.spec.Spec.BackendName() != project.BackendMarina {
			continue // render refuses a writeBack on another backend, and stale-render says so
		}
		seen := map[string]bool{}
		for _, env := range v.envs(a) {
			if e, _ := a.spec.Spec.Resolve(env); e.WriteBack == nil {
				continue
			}
			keys := []string{"spec", "writeBack"}
			if a.spec.Spec.Environments[env].WriteBack != nil {
				keys = []string{"spec", "environments", env, "writeBack"}
			}
			field := strings.Join(keys, ".")
			if seen[field] {
				continue
			}
			seen[field] = true
			out = append(out, finding("repo-url-writeback", a.file, field, a.line(keys...),
				"set spec.repository.url in marina.yaml (and gitops/) to this repository's https:// clone URL, then run `marina render --write`",
				"%s writes aborted rollouts back to %s, the placeholder marina init writes without --repo-url: the push would fail when a rollout aborts",
				a.spec.Spec.Model, v.project.Spec.Repository.URL))
		}
	}
	return out
}

func (v *validation) checkGatesPresent() []Finding {
	if v.project.Spec.Gates != nil && (v.project.Spec.Gates.Accuracy != nil || v.project.Spec.Gates.LatencyP95Ms != nil) {
		return nil
	}
	return []Finding{finding("gates-missing", "marina.yaml", "spec.gates", v.projectLine("/spec/gates"),
		"add spec.gates.accuracy.min and spec.gates.latencyP95Ms.max to marina.yaml",
		"no quality gates are set; any registered version may be deployed")}
}
