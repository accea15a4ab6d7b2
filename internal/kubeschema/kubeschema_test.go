package kubeschema_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/kubeschema/kubeschematest"
)

// widgetSchema exercises every conversion rule without needing the downloaded CRDs.
const widgetSchema = `type: object
properties:
  apiVersion: {type: string}
  kind: {type: string}
  metadata: {type: object}
  spec:
    type: object
    required: [size]
    properties:
      size: {type: integer, minimum: 0, exclusiveMinimum: true}
      port:
        x-kubernetes-int-or-string: true
        anyOf: [{type: integer}, {type: string}]
      note: {type: string, nullable: true}
      mode: {type: string, enum: [a, b], nullable: true}
      free:
        type: object
        x-kubernetes-preserve-unknown-fields: true
      labels:
        type: object
        additionalProperties: {type: string}
      template:
        type: object
        x-kubernetes-embedded-resource: true
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
      either:
        type: object
        properties:
          a: {type: string}
          b: {type: string}
        oneOf:
        - required: [a]
        - required: [b]
`

// writeWidgetCRD writes the CRD of example.com/v1 Widget to dir and returns its path.
func writeWidgetCRD(t testing.TB, dir string) string {
	t.Helper()
	return kubeschematest.WriteCRD(t, dir, "example.com", "Widget", "v1", widgetSchema)
}

func widgetValidator(t *testing.T) *kubeschema.Validator {
	t.Helper()
	dir := t.TempDir()
	writeWidgetCRD(t, dir)
	v, err := kubeschema.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantOneFieldError fails t unless err is a *kubeschema.Error with one field error, at field, whose message holds msg.
func wantOneFieldError(t *testing.T, err error, field, msg string) {
	t.Helper()
	var verr *kubeschema.Error
	if !errors.As(err, &verr) {
		t.Fatalf("want *kubeschema.Error, got %v", err)
	}
	if len(verr.Fields) != 1 {
		t.Fatalf("want one field error, got %v", err)
	}
	if f := verr.Fields[0]; f.Field != field || !strings.Contains(f.Message, msg) {
		t.Fatalf("want %s: …%s…, got %s: %s", field, msg, f.Field, f.Message)
	}
}

func object(t testing.TB, y string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestValidateAppliesKubernetesSchemaSemantics(t *testing.T) {
	t.Parallel()
	v := widgetValidator(t)
	const head = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: ns, labels: {a: b}}\n"
	tests := []struct {
		name    string
		spec    string
		wantErr string // substring of the error; "" means valid
	}{
		{"accept a complete object", "spec: {size: 1, port: 80, labels: {x: z}}", ""},
		{"accept an int-or-string as a string", "spec: {size: 1, port: http}", ""},
		{"reject an int-or-string that is neither", "spec: {size: 1, port: [1]}", "spec.port"},
		{"accept null where nullable is set", "spec: {size: 1, note: null, mode: null}", ""},
		{"reject null where nullable is not set", "spec: {size: null}", "spec.size"},
		{"reject a boolean exclusive minimum as inclusive", "spec: {size: 0}", "spec.size"},
		{"reject an unknown field where properties are declared", "spec: {size: 1, colour: red}", "colour"},
		{"accept unknown fields under preserve-unknown-fields", "spec: {size: 1, free: {any: {thing: 1}}}", ""},
		{"accept apiVersion kind and metadata in an embedded resource", "spec: {size: 1, template: {apiVersion: v1, kind: X, metadata: {name: n}, spec: {z: 1}}}", ""},
		{"accept a oneOf branch without forbidding its sibling properties", "spec: {size: 1, either: {a: x}}", ""},
		{"reject a wrong type", "spec: {size: one}", "spec.size"},
		{"reject a missing required field", "spec: {port: 1}", "size"},
		{"reject an unknown metadata field", "spec: {size: 1}\nmetadata: {name: w, lables: {a: b}}", "lables"},
		{"reject an unknown top-level field", "spec: {size: 1}\nspce: {}", "spce"},
		{"reject a wrong value type in a string map", "spec: {size: 1, labels: {x: 1}}", "spec.labels.x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := v.Validate(object(t, head+tt.spec))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var verr *kubeschema.Error
			if !errors.As(err, &verr) {
				t.Fatalf("want *kubeschema.Error containing %q, got %v", tt.wantErr, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("want error containing %q, got %v", tt.wantErr, err)
			}
		})
	}
}

func TestValidateRejectsAKindNoCRDDefines(t *testing.T) {
	t.Parallel()
	v := widgetValidator(t)
	err := v.Validate(object(t, "apiVersion: example.com/v2\nkind: Widget\nmetadata: {name: w}"))
	if !errors.Is(err, kubeschema.ErrUnknownKind) {
		t.Fatalf("want ErrUnknownKind, got %v", err)
	}
	if !v.Has("example.com/v1", "Widget") || v.Has("example.com/v2", "Widget") {
		t.Fatalf("Has disagrees with the loaded kinds %v", v.Kinds())
	}
}

func TestLoadRejectsTheSameKindDefinedTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	crd, err := os.ReadFile(writeWidgetCRD(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "again.yaml"), crd, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := kubeschema.Load(dir); err == nil || !strings.Contains(err.Error(), "also defined") {
		t.Fatalf("want a duplicate-definition error, got %v", err)
	}
}

func TestLoadRejectsADirectoryWithoutCRDs(t *testing.T) {
	t.Parallel()
	if _, err := kubeschema.Load(t.TempDir()); err == nil {
		t.Fatal("want an error for a directory without CRDs")
	}
}

const argoApplication = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: demo
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://git.example.com/demo.git
    targetRevision: main
    path: apps/demo
  destination:
    server: https://kubernetes.default.svc
    namespace: demo
  syncPolicy:
    automated: {prune: true, selfHeal: true}
    syncOptions: [RespectIgnoreDifferences=true]
  ignoreDifferences:
  - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}
`

func TestValidateChecksArgoCDApplicationsAgainstTheRealCRD(t *testing.T) {
	t.Parallel()
	v, err := kubeschema.Load(kubeschematest.Dir(t, kubeschematest.ArgoCD))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func(m map[string]any)
		wantErr string
	}{
		{"accept a valid Application", func(map[string]any) {}, ""},
		{"catch a wrong type", func(m map[string]any) {
			spec(m)["source"].(map[string]any)["repoURL"] = 42
		}, "spec.source.repoURL"},
		{"catch an unknown field", func(m map[string]any) {
			spec(m)["destinaton"] = map[string]any{"namespace": "x"}
		}, "destinaton"},
		{"catch a missing required field", func(m map[string]any) {
			delete(spec(m), "destination")
		}, "destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := object(t, argoApplication)
			tt.edit(m)
			err := v.Validate(m)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("want an error mentioning %q, got %v", tt.wantErr, err)
			}
		})
	}
}

func spec(m map[string]any) map[string]any { return m["spec"].(map[string]any) }

func TestEveryCachedCRDCompiles(t *testing.T) {
	t.Parallel()
	for _, mod := range []string{
		kubeschematest.ArgoCD, kubeschematest.FluxSource, kubeschematest.FluxKustomize, kubeschematest.GatewayAPI,
		kubeschematest.KEDA, kubeschematest.ExternalSecrets, kubeschematest.SealedSecrets,
		kubeschematest.PrometheusOperator,
	} {
		t.Run(mod, func(t *testing.T) {
			t.Parallel()
			v, err := kubeschema.Load(kubeschematest.Dir(t, mod))
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range v.Kinds() {
				apiVersion, kind, _ := strings.Cut(k, " ")
				// An empty object compiles the schema; only schema errors (not validation errors) fail here.
				err := v.Validate(map[string]any{"apiVersion": apiVersion, "kind": kind})
				var verr *kubeschema.Error
				if err != nil && !errors.As(err, &verr) {
					t.Errorf("%s: %v", k, err)
				}
			}
		})
	}
}
