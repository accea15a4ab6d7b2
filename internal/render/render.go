package render

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/modelpod"
	"github.com/marina-dev/marina/internal/project"
)

// Backends render can emit.
const (
	BackendPlain  = project.BackendPlain
	BackendKServe = project.BackendKServe
	BackendMarina = project.BackendMarina
)

// ErrUnsupportedStrategy means model.yaml asks for a rollout strategy its backend cannot carry out.
var ErrUnsupportedStrategy = errors.New("unsupported strategy")

// Defaults for what model.yaml leaves out.
const (
	// DefaultImage is marina's own ONNX model server (marina serve).
	DefaultImage = modelpod.ServerImage
	// DefaultPort is the container port of the model server.
	DefaultPort = 8080
	// DefaultGatewayName and DefaultGatewayNamespace name the Gateway HTTPRoutes attach to
	// when marina.yaml names none.
	DefaultGatewayName      = "models"
	DefaultGatewayNamespace = "gateway-system"
	// DefaultPrometheus is the Prometheus KEDA queries when model.yaml names none.
	DefaultPrometheus = "http://prometheus.monitoring.svc:9090"
)

// Input is everything one (model, environment) renders from.
type Input struct {
	Project *project.Project
	App     *project.ModelApplication
	Env     string
	Version *model.Version
	// Config is the content of spec.config, nil when there is none.
	Config []byte
	// SealedSecrets holds the content of each sealedSecret file, by secret name.
	SealedSecrets map[string][]byte
	// PublicKeys holds the content of marina.yaml's spec.signing.publicKeys, in its order: the init container of
	// an oci:// artifact verifies the artifact's signature with them.
	PublicKeys [][]byte
}

// File is one rendered file, by repository path.
type File struct {
	Path string
	Data []byte
	// Object is the tree Data was written from (nil for a file copied as is), so a
	// caller that finds Data committed unchanged can check the object without parsing it.
	Object map[string]any
}

// Dir is where the manifests of a model's environment are committed.
func Dir(modelName, env string) string {
	return path.Join(project.ApplicationsDir, modelName, env)
}

// Render produces the files of applications/<model>/<env>/, sorted by path, kustomization.yaml included.
func Render(in Input) ([]File, error) {
	c, err := newContext(in)
	if err != nil {
		return nil, err
	}
	var objs []object
	switch c.backend {
	case BackendPlain:
		objs, err = c.plain()
	case BackendKServe:
		objs, err = c.kserve()
	case BackendMarina:
		objs, err = c.marina()
	default:
		err = fmt.Errorf("%s: spec.backend %q: use plain, kserve or marina", c.appFile, c.backend)
	}
	if err != nil {
		return nil, err
	}
	common, err := c.common()
	if err != nil {
		return nil, err
	}
	objs = append(objs, common...)
	return c.files(objs)
}

// object is one manifest: the file it goes to and its content.
type object struct {
	file string
	obj  any
	// raw, when set, is written as is (a committed SealedSecret).
	raw []byte
}

// context holds what every backend derives from the input.
type context struct {
	Input
	appFile   string
	backend   string
	name      string
	namespace string
	settings  project.EnvironmentSpec
	image     string
	port      int32
	configMap string
	// keys is the ConfigMap of PublicKeys when the pod's init container verifies the artifact's signature.
	keys *corev1.ConfigMap
}

func newContext(in Input) (*context, error) {
	c := &context{Input: in, appFile: path.Join(project.ApplicationsDir, in.App.Metadata.Name, project.ApplicationFile)}
	env, ok := in.Project.Environment(in.Env)
	if !ok {
		return nil, fmt.Errorf("environment %q is not in marina.yaml", in.Env)
	}
	c.namespace = env.Namespace
	c.settings, ok = in.App.Spec.Resolve(in.Env)
	if !ok {
		return nil, fmt.Errorf("%s: spec.environments has no %q", c.appFile, in.Env)
	}
	if in.Version == nil || in.Version.Version != c.settings.Version {
		return nil, fmt.Errorf("%s: spec.environments.%s.version %s: no metadata given for it", c.appFile, in.Env, c.settings.Version)
	}
	c.backend = in.App.Spec.BackendName()
	if _, field, msg := in.App.Spec.UnsupportedStrategy(in.Env); msg != "" {
		return nil, fmt.Errorf("%w: %s: %s: %s: %s", ErrUnsupportedStrategy, c.appFile, field, msg, project.UnsupportedStrategyHint)
	}
	if fields := c.controllerFields(); c.backend != project.BackendMarina && len(fields) > 0 {
		are, them := "is", "it"
		if len(fields) > 1 {
			are, them = "are", "them"
		}
		return nil, fmt.Errorf("%s: %s (environment %s) %s marina controller's: set spec.backend: marina, or remove %s (backend %s would ignore %s)",
			c.appFile, strings.Join(fields, ", "), in.Env, are, them, c.backend, them)
	}
	c.name = in.App.Spec.Model
	c.image, c.port = DefaultImage, DefaultPort
	if rt := in.App.Spec.Runtime; rt != nil {
		if rt.Image != "" {
			c.image = rt.Image
		}
		if rt.Port != 0 {
			c.port = int32(rt.Port)
		}
	}
	if in.Config != nil {
		c.configMap = fmt.Sprintf("%s-config-%s", c.name, contentHash(in.Config))
	}
	c.keys = c.keysConfigMap()
	return c, nil
}

// controllerFields lists where model.yaml sets, for c.Env, what only marina controller carries out: router,
// analysis and writeBack.
func (c *context) controllerFields() []string {
	override := c.App.Spec.Environments[c.Env]
	var out []string
	for _, f := range []struct {
		name          string
		set, override bool
	}{
		{"router", c.settings.Router != nil, override.Router != nil},
		{"analysis", c.settings.Analysis != nil, override.Analysis != nil},
		{"writeBack", c.settings.WriteBack != nil, override.WriteBack != nil},
	} {
		if f.set {
			out = append(out, c.field(f.name, f.override))
		}
	}
	return out
}

// field is the path of the setting name in model.yaml for c.Env: spec.environments.<env>.<name> when the
// environment overrides it, spec.<name> otherwise.
func (c *context) field(name string, override bool) string {
	if override {
		return "spec.environments." + c.Env + "." + name
	}
	return "spec." + name
}

// keysConfigMap is the ConfigMap of the public keys the init container verifies an oci:// artifact's signature
// with: for the plain backend pulling with an init container, when marina.yaml names keys; nil otherwise. Its
// name carries a hash of the keys, so a key change rolls the pods.
func (c *context) keysConfigMap() *corev1.ConfigMap {
	_, oci := modelpod.OCIReference(c.Version.Artifact.URI)
	if len(c.PublicKeys) == 0 || !oci || c.backend != BackendPlain || c.artifact().Via == modelpod.ViaImageVolume {
		return nil
	}
	data := map[string]string{}
	var all []byte
	for i, k := range c.PublicKeys {
		data[fmt.Sprintf("%d.pub", i)] = string(k)
		all = append(all, k...)
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-signing-keys-%s", c.name, contentHash(all)), Namespace: c.namespace, Labels: c.labels()},
		Data:       data,
	}
}

// labels are the standard labels of every object.
func (c *context) labels() map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      c.name,
		"app.kubernetes.io/instance":  c.name + "-" + c.Env,
		"app.kubernetes.io/version":   c.Version.Version,
		"app.kubernetes.io/component": "model-server",
		"app.kubernetes.io/part-of":   c.Project.Metadata.Name,
		v1alpha1.LabelManagedBy:       v1alpha1.ManagedBy,
		v1alpha1.LabelModel:           c.name,
		v1alpha1.LabelVersion:         c.Version.Version,
		v1alpha1.LabelEnvironment:     c.Env,
	}
}

// selector labels never change between versions, so a Deployment's selector stays valid.
func (c *context) selector() map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     c.name,
		"app.kubernetes.io/instance": c.name + "-" + c.Env,
	}
}

// annotations pin the exact artifact on the objects that run it.
func (c *context) annotations() map[string]string {
	return map[string]string{
		v1alpha1.AnnotationArtifactURI:    c.Version.Artifact.URI,
		v1alpha1.AnnotationArtifactDigest: c.Version.Artifact.Digest,
	}
}

func (c *context) meta(name string) map[string]any {
	return map[string]any{"name": name, "namespace": c.namespace, "labels": c.labels()}
}

// server is the backend's one object that runs the model (KServe's InferenceService, marina's ModelDeployment):
// named like the model, it carries the artifact annotations.
func (c *context) server(file, apiVersion, kind string, spec map[string]any) []object {
	meta := c.meta(c.name)
	meta["annotations"] = c.annotations()
	return []object{{file: file, obj: map[string]any{
		"apiVersion": apiVersion,
		"kind":       kind,
		"metadata":   meta,
		"spec":       spec,
	}}}
}

// files turns objects into YAML files and the kustomization.yaml listing them.
func (c *context) files(objs []object) ([]File, error) {
	dir := Dir(c.name, c.Env)
	var out []File
	var resources []string
	for _, o := range objs {
		f := File{Path: path.Join(dir, o.file), Data: o.raw}
		if f.Data == nil {
			var err error
			if f.Object, err = unstructured(o.obj); err != nil {
				return nil, fmt.Errorf("%s: %w", o.file, err)
			}
			f.Data = emitYAML(f.Object)
		}
		out = append(out, f)
		resources = append(resources, o.file)
	}
	slices.Sort(resources)
	k := map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  toAny(resources),
	}
	out = append(out, File{Path: path.Join(dir, "kustomization.yaml"), Data: emitYAML(k), Object: k})
	slices.SortFunc(out, func(a, b File) int { return cmp.Compare(a.Path, b.Path) })
	for i := 1; i < len(out); i++ {
		if out[i].Path == out[i-1].Path {
			return nil, fmt.Errorf("%s: two objects render to %s", c.appFile, out[i].Path)
		}
	}
	return out, nil
}

// unstructured turns an object into the generic tree its YAML is written from,
// dropping the empty status and creationTimestamp that typed Kubernetes objects
// carry. The unstructured converter applies the objects' json tags (faster than a
// JSON round trip).
func unstructured(obj any) (map[string]any, error) {
	if mp, ok := obj.(map[string]any); ok {
		obj = &mp // the converter takes pointers only
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	if spec, ok := m["spec"].(map[string]any); ok {
		if tmpl, ok := spec["template"].(map[string]any); ok {
			if md, ok := tmpl["metadata"].(map[string]any); ok {
				delete(md, "creationTimestamp")
			}
		}
	}
	return m, nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// contentHash is a short, stable hash of data for names that change with content.
func contentHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:10]
}
