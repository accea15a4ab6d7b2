package scaffold_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/kubeschema/kubeschematest"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/scaffold"
	"github.com/marina-dev/marina/schemas"
)

// strictDecoder decodes the built-in kinds the scaffold writes, rejecting unknown and duplicate fields.
var strictDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
}()

// builtinGroups are the API groups checked by strictDecoder.
var builtinGroups = map[string]bool{"v1": true, "apps/v1": true, "rbac.authorization.k8s.io/v1": true}

// crdGroups are the apiVersions checked against third-party CRDs.
var crdGroups = map[string]bool{
	"argoproj.io/v1alpha1":            true,
	"source.toolkit.fluxcd.io/v1":     true,
	"kustomize.toolkit.fluxcd.io/v1":  true,
	"monitoring.coreos.com/v1":        true,
	"kustomize.config.k8s.io/v1beta1": false, // kustomize's own file, checked by checkKustomization
	project.APIVersion:                false, // marina's files, checked against schemas/
}

func strictDecode(doc map[string]any) error {
	raw, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	_, _, err = strictDecoder.Decode(raw, nil, nil)
	return err
}

func TestStrictDecodingCatchesAnUnknownField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
	}{
		{"catch a misspelt field", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, lables: {x: y}}"},
		{"catch a field in the wrong place", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: a}\nspec: {replicas: 1}"},
		{"catch a misspelt rule field", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: a}\nrules: [{apiGroup: [''], resources: [pods], verbs: [get]}]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(tt.doc), &doc); err != nil {
				t.Fatal(err)
			}
			err := strictDecode(doc)
			if err == nil || !runtime.IsStrictDecodingError(err) {
				t.Fatalf("want a strict decoding error, got %v", err)
			}
		})
	}
}

func crdValidator(t *testing.T) *kubeschema.Validator {
	t.Helper()
	dirs := []string{
		kubeschematest.Dir(t, kubeschematest.ArgoCD),
		kubeschematest.Dir(t, kubeschematest.FluxSource),
		kubeschematest.Dir(t, kubeschematest.FluxKustomize),
		kubeschematest.Dir(t, kubeschematest.PrometheusOperator),
	}
	crdOnce.Do(func() { crdV, crdErr = kubeschema.LoadDirs(dirs...) })
	if crdErr != nil {
		t.Fatal(crdErr)
	}
	return crdV
}

var (
	crdOnce sync.Once
	crdV    *kubeschema.Validator
	crdErr  error
)

// kustomizationFields are the kustomization.yaml fields the scaffold may use.
var kustomizationFields = map[string]bool{
	"apiVersion": true, "kind": true, "resources": true, "namespace": true, "labels": true, "patches": true,
	"components": true,
}

func checkKustomization(doc map[string]any) []string {
	var problems []string
	for k := range doc {
		if !kustomizationFields[k] {
			problems = append(problems, "unexpected kustomization field "+k)
		}
	}
	if doc["kind"] != "Kustomization" {
		problems = append(problems, "kind is not Kustomization")
	}
	return problems
}

func TestEveryObjectMatchesItsSchema(t *testing.T) {
	t.Parallel()
	crds := crdValidator(t)
	for _, c := range combinations() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, f := range mustFiles(t, c.opts) {
				if !isYAML(f.Path) || strings.HasPrefix(f.Path, ".github/") || f.Path == ".gitlab-ci.yml" {
					continue
				}
				for i, doc := range documents(t, f) {
					apiVersion, _ := doc["apiVersion"].(string)
					kind, _ := doc["kind"].(string)
					where := fmt.Sprintf("%s document %d (%s %s)", f.Path, i+1, apiVersion, kind)
					switch {
					case builtinGroups[apiVersion]:
						if err := strictDecode(doc); err != nil {
							t.Errorf("%s: %v", where, err)
						}
					case crdGroups[apiVersion]:
						if err := crds.Validate(doc); err != nil {
							t.Errorf("%s: %v", where, err)
						}
					case apiVersion == "kustomize.config.k8s.io/v1beta1":
						for _, p := range checkKustomization(doc) {
							t.Errorf("%s: %s", where, p)
						}
					case apiVersion == project.APIVersion && kind == "Project":
						var p project.Project
						if err := schemas.Decode(schemas.Project, f.Path, f.Data, &p); err != nil {
							t.Errorf("%s: %v", where, err)
						}
					case apiVersion == project.APIVersion && kind == "Pipeline":
						var p map[string]any
						if err := schemas.Decode(schemas.Pipeline, f.Path, f.Data, &p); err != nil {
							t.Errorf("%s: %v", where, err)
						}
					default:
						t.Errorf("%s: no check covers this kind; add one", where)
					}
				}
			}
		})
	}
}

func TestProjectFileDecodesIntoProjectWithoutUnknownFields(t *testing.T) {
	t.Parallel()
	o := scaffold.Options{Name: "ml-platform", Envs: []string{"dev", "prod"}}
	for _, f := range mustFiles(t, o) {
		if f.Path != project.ProjectFile {
			continue
		}
		var got project.Project
		if err := yaml.UnmarshalStrict(f.Data, &got); err != nil {
			t.Fatal(err)
		}
		want := scaffold.Project(o)
		a, _ := yaml.Marshal(got)
		b, _ := yaml.Marshal(want)
		if string(a) != string(b) {
			t.Fatalf("marina.yaml round trip differs:\n%s\nwant:\n%s", a, b)
		}
		return
	}
	t.Fatalf("no %s", project.ProjectFile)
}
