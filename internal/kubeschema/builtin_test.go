package kubeschema_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/marina-dev/marina/internal/kubeschema"
	"github.com/marina-dev/marina/internal/kubeschema/kubeschematest"
)

// builtin is kubeschema.Builtin() with the CRDs in crds (files or directories) added.
func builtin(t testing.TB, crds ...string) *kubeschema.Validator {
	t.Helper()
	v, err := kubeschema.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range crds {
		if err := v.AddCRDs(c); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: fraud-detector
  namespace: models-prod
  labels: {app.kubernetes.io/name: fraud-detector}
  creationTimestamp: null
spec:
  replicas: 3
  selector:
    matchLabels: {app.kubernetes.io/name: fraud-detector}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}
  template:
    metadata:
      labels: {app.kubernetes.io/name: fraud-detector}
    spec:
      containers:
      - name: server
        image: registry.example.com/marina-serve@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
        ports: [{name: http, containerPort: 8080}]
        envFrom: [{configMapRef: {name: fraud-detector-config-5f6c7d}}]
        resources:
          requests: {cpu: 500m, memory: 1Gi}
          limits: {memory: 2Gi, nvidia.com/gpu: 1}
        readinessProbe:
          httpGet: {path: /v2/health/ready, port: http}
      tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
`

var validBuiltinObjects = map[string]string{
	"Deployment": deployment,
	"Service": `apiVersion: v1
kind: Service
metadata: {name: fraud-detector}
spec:
  selector: {app.kubernetes.io/name: fraud-detector}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: grpc, port: 9000, targetPort: 9000, protocol: TCP}
`,
	"HorizontalPodAutoscaler": `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: fraud-detector}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: fraud-detector}
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
  - type: Pods
    pods:
      metric: {name: inference_requests_per_second}
      target: {type: AverageValue, averageValue: 100m}
`,
	"PodDisruptionBudget": `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: fraud-detector}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app.kubernetes.io/name: fraud-detector}}
`,
	"Ingress": `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: fraud-detector
  annotations: {nginx.ingress.kubernetes.io/proxy-body-size: 16m}
spec:
  ingressClassName: nginx
  tls: [{hosts: [models.example.com], secretName: models-tls}]
  rules:
  - host: models.example.com
    http:
      paths:
      - path: /fraud-detector
        pathType: Prefix
        backend: {service: {name: fraud-detector, port: {number: 80}}}
`,
	"ConfigMap": `apiVersion: v1
kind: ConfigMap
metadata: {name: fraud-detector-config-5f6c7d}
data: {config.yaml: "threshold: 0.5\n"}
`,
	"Namespace": `apiVersion: v1
kind: Namespace
metadata: {name: models-prod, labels: {pod-security.kubernetes.io/enforce: restricted}}
`,
	"ResourceQuota": `apiVersion: v1
kind: ResourceQuota
metadata: {name: gpu, namespace: models-prod}
spec:
  hard: {requests.cpu: "20", requests.memory: 64Gi, requests.nvidia.com/gpu: 4, limits.memory: 128Gi}
`,
	"ClusterRole": `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: marina-controller}
rules:
- apiGroups: [marina.dev]
  resources: [modeldeployments, modeldeployments/status]
  verbs: [get, list, watch, update, patch]
- nonResourceURLs: [/metrics]
  verbs: [get]
`,
	"HTTPRoute":    httpRoute,
	"ScaledObject": scaledObject,
}

const httpRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: fraud-detector}
spec:
  parentRefs: [{name: models, namespace: gateway, sectionName: https}]
  hostnames: [models.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /fraud-detector}}]
    backendRefs:
    - {name: fraud-detector-v1-0-0, port: 80, weight: 90}
    - {name: fraud-detector-v1-1-0, port: 80, weight: 10}
`

const scaledObject = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: fraud-detector}
spec:
  scaleTargetRef: {name: fraud-detector}
  minReplicaCount: 1
  maxReplicaCount: 10
  triggers:
  - type: prometheus
    metadata:
      serverAddress: http://prometheus.monitoring:9090
      query: sum(rate(marina_requests_total{model="fraud-detector"}[1m]))
      threshold: "50"
`

func TestBuiltinAcceptsValidObjects(t *testing.T) {
	t.Parallel()
	v := builtin(t)
	for name, doc := range validBuiltinObjects {
		t.Run("accept a valid "+name, func(t *testing.T) {
			t.Parallel()
			if err := v.Validate(object(t, doc)); err != nil {
				t.Fatalf("want valid, got %v", err)
			}
		})
	}
}

func TestBuiltinReportsEachErrorAtItsField(t *testing.T) {
	t.Parallel()
	v := builtin(t)
	containers := func(m map[string]any) []any {
		return dig(m, "spec", "template", "spec")["containers"].([]any)
	}
	tests := []struct {
		name      string
		doc       string
		edit      func(m map[string]any)
		wantField string
		wantMsg   string
	}{
		{"catch a wrong field type in a Deployment", deployment, func(m map[string]any) {
			spec(m)["replicas"] = "three"
		}, "spec.replicas", "want integer"},
		{"catch an unknown field in a Deployment", deployment, func(m map[string]any) {
			spec(m)["replica"] = 3
		}, "spec.replica", "unknown field"},
		{"catch a container without a name in a Deployment", deployment, func(m map[string]any) {
			delete(containers(m)[0].(map[string]any), "name")
		}, "spec.template.spec.containers[0].name", "required field is missing"},
		{"catch a wrong type deep in a pod template", deployment, func(m map[string]any) {
			containers(m)[0].(map[string]any)["image"] = 42
		}, "spec.template.spec.containers[0].image", "want string"},
		{"catch an unknown field in metadata", deployment, func(m map[string]any) {
			m["metadata"].(map[string]any)["lables"] = map[string]any{}
		}, "metadata.lables", "unknown field"},
		{"catch a malformed resource quantity", deployment, func(m map[string]any) {
			dig(containers(m)[0].(map[string]any), "resources", "requests")["memory"] = "1 GB"
		}, "spec.template.spec.containers[0].resources.requests.memory", "does not match pattern"},
		{"catch an int-or-string that is neither", validBuiltinObjects["Service"], func(m map[string]any) {
			spec(m)["ports"].([]any)[0].(map[string]any)["targetPort"] = true
		}, "spec.ports[0].targetPort", "want integer or string"},
		{"catch a wrong field type in an HTTPRoute", httpRoute, func(m map[string]any) {
			spec(m)["parentRefs"].([]any)[0].(map[string]any)["port"] = "https"
		}, "spec.parentRefs[0].port", "want integer"},
		{"catch an unknown field in an HTTPRoute", httpRoute, func(m map[string]any) {
			spec(m)["hostname"] = "models.example.com"
		}, "spec.hostname", "unknown field"},
		{"catch a parentRef without a name in an HTTPRoute", httpRoute, func(m map[string]any) {
			delete(spec(m)["parentRefs"].([]any)[0].(map[string]any), "name")
		}, "spec.parentRefs[0].name", "required field is missing"},
		{"catch a wrong field type in a ScaledObject", scaledObject, func(m map[string]any) {
			spec(m)["minReplicaCount"] = "one"
		}, "spec.minReplicaCount", "want integer"},
		{"catch an unknown field in a ScaledObject", scaledObject, func(m map[string]any) {
			spec(m)["pollingIntervalSeconds"] = 30
		}, "spec.pollingIntervalSeconds", "unknown field"},
		{"catch a scale target without a name in a ScaledObject", scaledObject, func(m map[string]any) {
			delete(dig(m, "spec", "scaleTargetRef"), "name")
		}, "spec.scaleTargetRef.name", "required field is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := object(t, tt.doc)
			tt.edit(m)
			err := v.Validate(m)
			wantOneFieldError(t, err, tt.wantField, tt.wantMsg)
			if !strings.Contains(err.Error(), tt.wantField+": ") {
				t.Fatalf("error text does not name %s: %v", tt.wantField, err)
			}
		})
	}
}

func TestBuiltinAcceptsKubernetesValueShapes(t *testing.T) {
	t.Parallel()
	v := builtin(t)
	tests := []struct {
		name string
		doc  string
		edit func(m map[string]any)
	}{
		{"accept an int-or-string given as a number", validBuiltinObjects["Service"], func(m map[string]any) {
			spec(m)["ports"].([]any)[0].(map[string]any)["targetPort"] = 8080
		}},
		{"accept an int-or-string given as a name", validBuiltinObjects["Service"], func(m map[string]any) {
			spec(m)["ports"].([]any)[0].(map[string]any)["targetPort"] = "http"
		}},
		{"accept resource quantities as strings and numbers", deployment, func(m map[string]any) {
			c := dig(m, "spec", "template", "spec")["containers"].([]any)[0].(map[string]any)
			c["resources"] = map[string]any{
				"requests": map[string]any{"cpu": 2, "memory": "512Mi", "ephemeral-storage": "1e3"},
				"limits":   map[string]any{"cpu": 0.5, "memory": "1.5Gi"},
			}
		}},
		{"accept null where a built-in type decodes it as unset", deployment, func(m map[string]any) {
			spec(m)["paused"] = nil
		}},
		{"accept typed Go values", deployment, func(m map[string]any) {
			m["metadata"].(map[string]any)["labels"] = map[string]string{"a": "b"}
			m["metadata"].(map[string]any)["finalizers"] = []string{"example.com/x"}
		}},
		{"accept anything under x-kubernetes-preserve-unknown-fields", argoApplication, func(m map[string]any) {
			m["apiVersion"] = "argoproj.io/v1alpha1"
			dig(m, "spec", "source")["helm"] = map[string]any{
				"valuesObject": map[string]any{"any": map[string]any{"nested": []any{1, "two", map[string]any{"x": nil}}}},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := object(t, tt.doc)
			tt.edit(m)
			if err := v.Validate(m); err != nil {
				t.Fatalf("want valid, got %v", err)
			}
		})
	}
}

func TestBuiltinValidatesEachAPIVersionAgainstItsOwnSchema(t *testing.T) {
	t.Parallel()
	v := builtin(t)
	const v1 = `apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: m}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: m}
  maxReplicas: 3
  targetCPUUtilizationPercentage: 70
`
	if err := v.Validate(object(t, v1)); err != nil {
		t.Fatalf("autoscaling/v1: want valid, got %v", err)
	}
	m := object(t, v1)
	m["apiVersion"] = "autoscaling/v2"
	err := v.Validate(m)
	if err == nil || !strings.Contains(err.Error(), "spec.targetCPUUtilizationPercentage: unknown field") {
		t.Fatalf("autoscaling/v2: want the v1-only field rejected, got %v", err)
	}
	m = object(t, validBuiltinObjects["HorizontalPodAutoscaler"])
	m["apiVersion"] = "autoscaling/v1"
	if err := v.Validate(m); err == nil || !strings.Contains(err.Error(), "spec.metrics: unknown field") {
		t.Fatalf("autoscaling/v1: want the v2-only field rejected, got %v", err)
	}
}

func TestBuiltinRejectsKindsWithoutASchema(t *testing.T) {
	t.Parallel()
	v := builtin(t)
	for _, tv := range [][2]string{
		{"example.com/v1", "Widget"},
		{"apps/v1beta1", "Deployment"},
		{"serving.kserve.io/v1beta1", "InferenceService"},
	} {
		t.Run("reject "+tv[0]+" "+tv[1], func(t *testing.T) {
			t.Parallel()
			err := v.Validate(map[string]any{"apiVersion": tv[0], "kind": tv[1], "metadata": map[string]any{"name": "x"}})
			if !errors.Is(err, kubeschema.ErrUnknownKind) {
				t.Fatalf("want ErrUnknownKind, got %v", err)
			}
		})
	}
}

func TestBuiltinHoldsTheRequiredGroupsAndRecordsItsSources(t *testing.T) {
	t.Parallel()
	v := builtin(t)
	for _, k := range []string{
		"v1 Pod", "apps/v1 StatefulSet", "batch/v1 CronJob", "autoscaling/v2 HorizontalPodAutoscaler",
		"policy/v1 PodDisruptionBudget", "networking.k8s.io/v1 NetworkPolicy", "rbac.authorization.k8s.io/v1 RoleBinding",
		"storage.k8s.io/v1 StorageClass", "scheduling.k8s.io/v1 PriorityClass", "coordination.k8s.io/v1 Lease",
		"admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration", "apiextensions.k8s.io/v1 CustomResourceDefinition",
		"gateway.networking.k8s.io/v1 HTTPRoute", "keda.sh/v1alpha1 ScaledObject", "external-secrets.io/v1 ExternalSecret",
		"bitnami.com/v1alpha1 SealedSecret", "argoproj.io/v1alpha1 ApplicationSet", "source.toolkit.fluxcd.io/v1 GitRepository",
		"kustomize.toolkit.fluxcd.io/v1 Kustomization", "monitoring.coreos.com/v1 PrometheusRule",
	} {
		apiVersion, kind, _ := strings.Cut(k, " ")
		if !v.Has(apiVersion, kind) {
			t.Errorf("the builtin bundle has no %s", k)
		}
	}
	if s := v.Sources(); !slices.Contains(s, "k8s.io/kubernetes@v1.37.2") || !slices.Contains(s, "sigs.k8s.io/gateway-api@v1.7.0") {
		t.Errorf("sources %v lack the Kubernetes or Gateway API module", s)
	}
}

// TestEveryBuiltinSchemaCompiles compiles the whole bundle: a schema the compiler refuses (a Go-incompatible regex,
// a broken $ref) fails here rather than in a user's repository. Every builtin schema is taken by the fast validator
// (TestFastValidatorTakesEveryBuiltinSchema), so the general one never compiles them outside tests.
func TestEveryBuiltinSchemaCompiles(t *testing.T) {
	t.Parallel()
	v := builtin(t)
	for _, k := range v.Kinds() {
		apiVersion, kind, _ := strings.Cut(k, " ")
		err := v.Validate(map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": "x"}})
		var verr *kubeschema.Error
		if err != nil && !errors.As(err, &verr) {
			t.Errorf("%s: %v", k, err)
		}
	}
}

func TestAddCRDsExtendsOnlyThatValidator(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeWidgetCRD(t, dir)
	v := builtin(t, dir)
	w := object(t, "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1}")
	if err := v.Validate(w); err != nil {
		t.Fatalf("want the added CRD to validate, got %v", err)
	}
	if err := v.Validate(object(t, deployment)); err != nil {
		t.Fatalf("want the builtin kinds kept, got %v", err)
	}
	if err := builtin(t).Validate(w); !errors.Is(err, kubeschema.ErrUnknownKind) {
		t.Fatalf("a fresh Builtin() must not see another validator's CRDs, got %v", err)
	}
	if err := v.AddCRDs(t.TempDir()); err == nil {
		t.Fatal("want an error for a directory without CRDs")
	}
}

func TestAddCRDsReplacesTheBuiltinSchemaOfTheSameKind(t *testing.T) {
	t.Parallel()
	// A cluster with an older Gateway API whose HTTPRoute only knows hostnames.
	file := kubeschematest.WriteCRD(t, t.TempDir(), "gateway.networking.k8s.io", "HTTPRoute", "v1", `type: object
properties:
  spec: {type: object, properties: {hostnames: {type: array, items: {type: string}}}}
`)
	v := builtin(t, file)
	err := v.Validate(object(t, httpRoute))
	if err == nil || !strings.Contains(err.Error(), "spec.parentRefs: unknown field") {
		t.Fatalf("want the added CRD to replace the builtin HTTPRoute, got %v", err)
	}
}

func TestAddCRDsLoadsKServe(t *testing.T) {
	t.Parallel()
	v := builtin(t, kubeschematest.KServe(t))
	const isvc = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: fraud-detector}
spec:
  predictor:
    model:
      modelFormat: {name: onnx}
      storageUri: s3://models/fraud-detector/1.0.0
      resources: {requests: {cpu: 500m, memory: 1Gi}}
`
	if err := v.Validate(object(t, isvc)); err != nil {
		t.Fatalf("want valid, got %v", err)
	}
	m := object(t, isvc)
	dig(m, "spec", "predictor")["modle"] = map[string]any{}
	if err := v.Validate(m); err == nil || !strings.Contains(err.Error(), "spec.predictor.modle: unknown field") {
		t.Fatalf("want an unknown-field error, got %v", err)
	}
}

func TestBuiltinIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	v := builtin(t)
	docs := []map[string]any{object(t, deployment), object(t, httpRoute), object(t, scaledObject)}
	bad := object(t, deployment)
	spec(bad)["replicas"] = "three"
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Go(func() {
			for j := range 20 {
				if err := v.Validate(docs[(i+j)%len(docs)]); err != nil {
					errs <- err
				}
				if err := v.Validate(bad); err == nil {
					errs <- errors.New("an invalid Deployment passed")
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// dig walks nested maps by key.
func dig(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

// BenchmarkValidateDeployment measures one validation of a typical rendered Deployment, once compiled; marina
// validate runs 1,000 models × 3 environments × ~6 objects through a worker pool.
func BenchmarkValidateDeployment(b *testing.B) {
	v := builtin(b)
	m := object(b, deployment)
	if err := v.Validate(m); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := v.Validate(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := v.Validate(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkBuiltin measures Builtin() after the process's first call (which decodes the bundle once, ~50 ms): a
// copy of the kind table, sharing the compiled schemas.
func BenchmarkBuiltin(b *testing.B) {
	builtin(b)
	b.ReportAllocs()
	for b.Loop() {
		builtin(b)
	}
}

// BenchmarkValidateModelObjects validates the objects marina renders for one model in one environment (Deployment,
// Service, HPA, PDB, ConfigMap, HTTPRoute) on all cores; ns/op is per set of six.
func BenchmarkValidateModelObjects(b *testing.B) {
	v := builtin(b)
	var objs []map[string]any
	for _, name := range []string{"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "HTTPRoute"} {
		m := object(b, validBuiltinObjects[name])
		if err := v.Validate(m); err != nil {
			b.Fatal(err)
		}
		objs = append(objs, m)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for _, m := range objs {
				if err := v.Validate(m); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
