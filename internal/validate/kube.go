package validate

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	kvalidation "k8s.io/apimachinery/pkg/util/validation"

	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/schemas"
)

// checkKustomization reads a kustomization file for the patches it names: those are partial objects, which a full
// schema check would wrongly reject.
func (v *validation) checkKustomization(file string, data []byte) result {
	docs, err := schemas.ParseStream(file, data, schemas.MaxManifestSize)
	var findings []Finding
	if err != nil {
		findings = problemFindings(err, file, "yaml", nil)
	}
	dir := path.Dir(file)
	var patches []string
	addPatch := func(p any) {
		s, ok := p.(string)
		if !ok || s == "" || strings.Contains(s, "\n") {
			return // inline patch
		}
		patches = append(patches, path.Join(dir, s))
	}
	for _, d := range docs {
		m, _ := d.Value.(map[string]any)
		for _, key := range []string{"patches", "patchesJson6902"} {
			list, _ := m[key].([]any)
			for i, item := range list {
				switch it := item.(type) {
				case map[string]any:
					addPatch(it["path"])
				case string:
					// A path written as a plain string is still a patch file, not a whole object; kustomize
					// itself refuses the entry (its Patch is an object), so say how to write it.
					addPatch(it)
					findings = append(findings, finding("k8s-kustomization", file, fmt.Sprintf("%s[%d]", key, i),
						d.Line(fmt.Sprintf("/%s/%d", key, i)), fmt.Sprintf("write the entry as `- path: %s`", it),
						"%s[%d] is the string %q; kustomize refuses it (cannot unmarshal string into a Patch)", key, i, it))
				}
			}
		}
		list, _ := m["patchesStrategicMerge"].([]any)
		for _, item := range list {
			addPatch(item)
		}
	}
	return result{findings: findings, apply: func() {
		for _, p := range patches {
			v.patches[p] = true
		}
	}}
}

// quota is the GPU limit of one ResourceQuota object.
type quota struct {
	file string
	line int
	// env is the overlay's environment, or "" for a base shared by every environment.
	env  string
	gpus int64
}

// checkManifests checks every Kubernetes object in a manifest file against its schema; rendered is what render
// writes to file, or nil.
func (v *validation) checkManifests(file string, data []byte, rendered *render.File) result {
	if asRendered(v.kube, rendered, data) {
		return result{}
	}
	docs, err := schemas.ParseStream(file, data, schemas.MaxManifestSize)
	var findings []Finding
	if err != nil {
		findings = problemFindings(err, file, "yaml", nil)
	}
	var quotas []quota
	for _, d := range docs {
		obj, ok := d.Value.(map[string]any)
		if !ok {
			continue
		}
		apiVersion, _ := obj["apiVersion"].(string)
		kind, _ := obj["kind"].(string)
		if apiVersion == "" && kind == "" {
			continue // not a Kubernetes object (e.g. a values or config file)
		}
		if strings.HasPrefix(apiVersion, "kustomize.config.k8s.io/") {
			continue
		}
		if apiVersion == "v1" && kind == "ResourceQuota" {
			if q, ok := gpuQuota(file, d, obj); ok {
				quotas = append(quotas, q)
			}
		}
		if v.patches[file] {
			continue
		}
		findings = append(findings, v.checkObject(file, d, obj, apiVersion, kind)...)
	}
	var text string
	if strings.HasPrefix(file, "gitops/argocd/") {
		text = string(data)
	}
	return result{findings: findings, apply: func() {
		v.quotas = append(v.quotas, quotas...)
		if text != "" {
			v.argocd[file] = text
		}
	}}
}

// asRendered reports whether a file is committed exactly as render writes it (rf, or nil) and its object passes
// its schema, so there is nothing to report and no need to parse it. Anything else is parsed, for findings with
// lines.
func asRendered(kube *kubeschema.Validator, rf *render.File, data []byte) bool {
	if rf == nil || rf.Object == nil || !bytes.Equal(rf.Data, data) {
		return false
	}
	apiVersion, _ := rf.Object["apiVersion"].(string)
	kind, _ := rf.Object["kind"].(string)
	if strings.HasPrefix(apiVersion, "kustomize.config.k8s.io/") {
		return true
	}
	return kube.Has(apiVersion, kind) && kube.Validate(rf.Object) == nil
}

func (v *validation) checkObject(file string, d *schemas.Document, obj map[string]any, apiVersion, kind string) []Finding {
	line := d.Line("")
	if apiVersion == "" || kind == "" {
		return []Finding{finding("k8s-schema", file, "", line, "every Kubernetes object needs apiVersion and kind", "object has kind %q and apiVersion %q; both are required", kind, apiVersion)}
	}
	if !v.kube.Has(apiVersion, kind) {
		return []Finding{finding("k8s-unknown-kind", file, "", line, "pass the directory of its CustomResourceDefinition with --crds DIR",
			"no schema for %s %s%s; pass --crds DIR", apiVersion, kind, objectName(obj))}
	}
	labels := labelFindings(file, d, obj, fmt.Sprintf("%s %s%s: ", apiVersion, kind, objectName(obj)))
	err := v.kube.Validate(obj)
	out := v.yaml11Findings(file, d, obj, err)
	if err == nil {
		return append(labels, out...)
	}
	var ke *kubeschema.Error
	if !errors.As(err, &ke) {
		return append(append(labels, out...), finding("k8s-schema", file, "", line, "", "%s %s%s: %v", apiVersion, kind, objectName(obj), err))
	}
	hint := "fix the field; see `kubectl explain " + strings.ToLower(kind) + "` for its schema"
	if strings.HasPrefix(file, "applications/") {
		hint = "fix model.yaml and run `marina render --write` rather than editing rendered files"
	}
	prefix := fmt.Sprintf("%s %s%s: ", apiVersion, kind, objectName(obj))
	for _, fe := range ke.Fields {
		msg := fe.Message
		if msg == "unknown field" || msg == "required field is missing" {
			i := strings.LastIndex(fe.Path, "/")
			name := strings.NewReplacer("~1", "/", "~0", "~").Replace(fe.Path[i+1:])
			msg = fmt.Sprintf("%s %q", msg, name)
		}
		out = append(out, finding("k8s-schema", file, fe.Field, lineAt(d, fe.Path), hint, "%s%s", prefix, msg))
	}
	return append(labels, out...)
}

// labelMaps are where objects carry labels the API server validates: the object's own and, for the
// workload kinds, the pod template's and the selector's (other kinds' spec.template, like an
// ApplicationSet's, is a template of something else, with placeholders).
var labelMaps = [][]string{{"metadata", "labels"}, {"spec", "template", "metadata", "labels"}, {"spec", "selector", "matchLabels"}}

var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true, "Job": true, "ReplicationController": true}

// labelFindings checks label keys and values with the API server's own rules (apimachinery's validation):
// the offline schemas only say they are strings, so a value like 1.0.0+build.7 passed and the server refused it.
func labelFindings(file string, d *schemas.Document, obj map[string]any, prefix string) []Finding {
	var out []Finding
	paths := labelMaps
	if kind, _ := obj["kind"].(string); !workloadKinds[kind] {
		paths = paths[:1]
	}
	for _, at := range paths {
		var cur any = obj
		for _, k := range at {
			m, _ := cur.(map[string]any)
			cur = m[k]
		}
		labels, _ := cur.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(labels)) {
			val, _ := labels[k].(string)
			problems := kvalidation.IsQualifiedName(k)
			problems = append(problems, kvalidation.IsValidLabelValue(val)...)
			if len(problems) == 0 {
				continue
			}
			ptr := "/" + strings.Join(at, "/") + "/" + escapePointer(k)
			field := strings.Join(at, ".") + "." + k
			out = append(out, finding("k8s-label", file, field, lineAt(d, ptr),
				"label keys are [prefix/]name and values at most 63 characters of letters, digits, '-', '_' and '.', starting and ending alphanumeric; for rendered files, fix what feeds the label (a version with build metadata, for instance) and run `marina render --write`",
				"%slabel %s=%q: %s", prefix, k, val, strings.Join(problems, "; ")))
		}
	}
	return out
}

// yaml11Findings warns about the unquoted yes, no, on, off (and y, n) where the schema wants a string: marina,
// kustomize and Flux read them as strings (YAML 1.2), kubectl and readers built on sigs.k8s.io/yaml as booleans
// (YAML 1.1), which the API server then rejects. Which reading applies depends on the tool, so it is a warning with
// the fix that suits both: quote the value. err is obj's own validation result.
func (v *validation) yaml11Findings(file string, d *schemas.Document, obj map[string]any, err error) []Finding {
	ptrs := d.YAML11Booleans()
	if len(ptrs) == 0 {
		return nil
	}
	failing := func(err error) map[string]bool {
		var ke *kubeschema.Error
		if !errors.As(err, &ke) {
			return nil
		}
		m := map[string]bool{}
		for _, f := range ke.Fields {
			m[f.Path] = true
		}
		return m
	}
	already := failing(err)
	var as11 any = obj
	for _, p := range ptrs {
		b, _ := schemas.YAML11Boolean(pointerValue(obj, p))
		as11 = withValue(as11, pointerTokens(p), b)
	}
	m, _ := as11.(map[string]any)
	rejected := failing(v.kube.Validate(m))
	var out []Finding
	for _, p := range ptrs {
		if !rejected[p] || already[p] {
			continue
		}
		s := pointerValue(obj, p)
		b, _ := schemas.YAML11Boolean(s)
		out = append(out, finding("k8s-yaml11-bool", file, d.Path(p), lineAt(d, p), fmt.Sprintf("quote it: %q", s),
			"unquoted %s is the string %q for kustomize and Flux (YAML 1.2) but the boolean %t for kubectl (YAML 1.1), where the schema wants a string",
			s, s, b))
	}
	return out
}

// pointerTokens splits a JSON pointer into its unescaped tokens.
func pointerTokens(ptr string) []string {
	if ptr == "" {
		return nil
	}
	parts := strings.Split(ptr[1:], "/")
	for i, p := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(p)
	}
	return parts
}

// pointerValue returns the string at ptr in v, or "".
func pointerValue(v any, ptr string) string {
	for _, t := range pointerTokens(ptr) {
		switch c := v.(type) {
		case map[string]any:
			v = c[t]
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(c) {
				return ""
			}
			v = c[i]
		default:
			return ""
		}
	}
	s, _ := v.(string)
	return s
}

// withValue returns v with the value at tokens replaced by val, copying only the maps and slices on the way.
func withValue(v any, tokens []string, val any) any {
	if len(tokens) == 0 {
		return val
	}
	switch c := v.(type) {
	case map[string]any:
		cp := make(map[string]any, len(c))
		for k, x := range c {
			cp[k] = x
		}
		cp[tokens[0]] = withValue(c[tokens[0]], tokens[1:], val)
		return cp
	case []any:
		i, err := strconv.Atoi(tokens[0])
		if err != nil || i < 0 || i >= len(c) {
			return v
		}
		cp := append([]any(nil), c...)
		cp[i] = withValue(c[i], tokens[1:], val)
		return cp
	}
	return v
}

func objectName(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	if n, _ := md["name"].(string); n != "" {
		return fmt.Sprintf(" %q", n)
	}
	return ""
}

// lineAt is the line of the value at ptr, or of its nearest ancestor the document has.
func lineAt(d interface{ Line(ptr string) int }, ptr string) int {
	for {
		if l := d.Line(ptr); l > 0 || ptr == "" {
			return l
		}
		i := strings.LastIndex(ptr, "/")
		if i < 0 {
			return 0
		}
		ptr = ptr[:i]
	}
}

func escapePointer(s string) string {
	return pointerEscaper.Replace(s)
}

// pointerEscaper is made once: building a Replacer cost validate 8% of its CPU when escapePointer made one a call.
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// gpuQuota reads requests.nvidia.com/gpu from a ResourceQuota.
func gpuQuota(file string, d *schemas.Document, obj map[string]any) (quota, bool) {
	spec, _ := obj["spec"].(map[string]any)
	hard, _ := spec["hard"].(map[string]any)
	for _, key := range []string{"requests.nvidia.com/gpu", "nvidia.com/gpu"} {
		raw, ok := hard[key]
		if !ok {
			continue
		}
		q, err := resource.ParseQuantity(fmt.Sprint(raw))
		if err != nil {
			return quota{}, false
		}
		env := ""
		if rest, ok := strings.CutPrefix(file, "infrastructure/overlays/"); ok {
			env, _, _ = strings.Cut(rest, "/")
		}
		return quota{file: file, line: lineAt(d, "/spec/hard/"+escapePointer(key)), env: env, gpus: q.Value()}, true
	}
	return quota{}, false
}
