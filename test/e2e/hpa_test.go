//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestTheHPAScalesOnRealCPU renders staging's iris-classifier (a repository made with marina init, its HPA from
// model.yaml's scaling) onto the real node with metrics-server and CoreDNS running there as Pods. A bounded load of
// Open Inference Protocol requests through the Service makes the model servers use CPU; metrics-server measures it
// from the kubelet and the HPA controller scales the Deployment up on it, then back down once the load stops. A Pod
// of marina's image pulls the model through a Service name, which only CoreDNS resolves.
func TestTheHPAScalesOnRealCPU(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
	d := startDataPath(t, c, testenv.RealNode{MetricsServer: true, DNS: true})
	r := newGitOpsRepo(t, "flux", d, func(work string) {
		// One replica at rest, up to three on CPU: 50% of the 250m request is 125m per replica.
		replaceIn(t, filepath.Join(work, "applications", "iris-classifier", "model.yaml"),
			"hpa: {min: 2, max: 6, cpuUtilization: 70}", "hpa: {min: 1, max: 3, cpuUtilization: 50}")
	})
	const ns, name = "models-staging", "iris-classifier"
	// The namespace is infrastructure's (a GitOps engine applies it first); only the model's manifests matter here.
	if err := c.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	applyKustomization(t, c.Client, filepath.Join(r.work, "applications", "iris-classifier", "staging"))
	testenv.WaitUntil(t, "staging's iris-classifier runs on the real node", 3*time.Minute, func(ctx context.Context) (bool, string) {
		return deploymentRunning(ctx, c.Client, ns, name, "1.0.0", realNodeName)
	})
	answersAre(t, c, ns, name, inferencetest.IrisAnswers(t, r.v1), "staging answers as ONNX Runtime on the host does")

	t.Run("a Pod resolves a Service name through CoreDNS", func(t *testing.T) {
		pullThroughServiceName(t, c, d, r)
	})

	t.Run("the HPA scales up on CPU under load and back down after it", func(t *testing.T) {
		ctx, stop := context.WithCancel(context.Background())
		var served, failed atomic.Int64
		var wg sync.WaitGroup
		for range 4 { // closed loops: at most 4 requests in flight
			wg.Go(func() { loadLoop(ctx, c.Client, ns, name, &served, &failed) })
		}
		stopLoad := func() { stop(); wg.Wait() }
		t.Cleanup(stopLoad)
		up := testenv.WaitUntil(t, "the HPA scales iris-classifier up", 3*time.Minute, func(ctx context.Context) (bool, string) {
			hpa, why := hpaState(ctx, c.Client, ns, name)
			return hpa != nil && hpa.Status.DesiredReplicas > 1 && hpa.Status.CurrentReplicas > 1, why
		})
		stopLoad()
		hpa, why := hpaState(context.Background(), c.Client, ns, name)
		t.Logf("scaled up %s after the load started (%d requests served, %d failed): %s", up.Round(time.Second), served.Load(), failed.Load(), why)
		if served.Load() == 0 || hpa == nil {
			t.Fatalf("no request was served under load (%d failed): %s", failed.Load(), why)
		}
		down := testenv.WaitUntil(t, "the HPA scales iris-classifier back down without load", 3*time.Minute, func(ctx context.Context) (bool, string) {
			hpa, why := hpaState(ctx, c.Client, ns, name)
			return hpa != nil && hpa.Status.DesiredReplicas == 1 && hpa.Status.CurrentReplicas == 1, why
		})
		t.Logf("scaled back to 1 replica %s after the load stopped", down.Round(time.Second))
	})
}

// hpaState returns the HPA and what it says: replicas and the CPU utilisation metrics-server's measurements give.
func hpaState(ctx context.Context, c client.Client, ns, name string) (*autoscalingv2.HorizontalPodAutoscaler, string) {
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &hpa); err != nil {
		return nil, err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HPA %s/%s: %d current, %d desired replicas", ns, name, hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas)
	for _, m := range hpa.Status.CurrentMetrics {
		if m.Resource != nil && m.Resource.Current.AverageUtilization != nil {
			fmt.Fprintf(&b, ", %s at %d%% of the request", m.Resource.Name, *m.Resource.Current.AverageUtilization)
		}
	}
	for _, cond := range hpa.Status.Conditions {
		if cond.Status != corev1.ConditionTrue {
			fmt.Fprintf(&b, "; %s=%s: %s", cond.Type, cond.Status, cond.Message)
		}
	}
	return &hpa, b.String()
}

// loadLoop posts iris requests to the model's Service one after the other until ctx ends, counting the answers.
func loadLoop(ctx context.Context, c client.Client, ns, name string, served, failed *atomic.Int64) {
	for ctx.Err() == nil {
		if got, _ := answers(ctx, c, ns, name); got != nil {
			served.Add(1)
		} else if ctx.Err() == nil {
			failed.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// pullThroughServiceName runs `marina model pull` in marina's image on the real node, from the registry named by a
// Service (registry.NS.svc.cluster.local, a Service without selector whose endpoint is the registry on the host):
// the Pod succeeds only when CoreDNS resolved the name.
func pullThroughServiceName(t *testing.T, c *testenv.Cluster, d *dataPath, r *gitopsRepo) {
	t.Helper()
	const ns = "dns-check"
	host, port, err := net.SplitHostPort(d.reg.Host)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	p32 := int32(p)
	var meta struct{ Artifact struct{ URI string } }
	b, err := os.ReadFile(filepath.Join(r.work, "models", "iris-classifier", "v1.0.0.json"))
	if err == nil {
		err = json.Unmarshal(b, &meta)
	}
	if err != nil || !strings.HasPrefix(meta.Artifact.URI, "oci://"+d.reg.Host+"/") {
		t.Fatalf("iris-classifier 1.0.0's artifact: %v %q", err, meta.Artifact.URI)
	}
	byName := strings.Replace(meta.Artifact.URI, d.reg.Host, "registry."+ns+".svc."+testenv.ClusterDomain+":"+port, 1)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pull-by-name", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			NodeSelector:  map[string]string{testenv.RealNodeLabel: "real"},
			Tolerations:   []corev1.Toleration{{Key: testenv.RealNodeLabel, Operator: corev1.TolerationOpEqual, Value: "real", Effect: corev1.TaintEffectNoSchedule}},
			Containers: []corev1.Container{{
				Name: "pull", Image: d.pull, Args: []string{"model", "pull", byName, "--dir", "/tmp/model", "--plain-http"},
				VolumeMounts:             []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError, // pull's error, on failure
			}},
			Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "registry", Namespace: ns},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: p32, TargetPort: intstr.FromInt32(p32)}}}},
		&discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: "registry", Namespace: ns, Labels: map[string]string{
				discoveryv1.LabelServiceName: "registry", discoveryv1.LabelManagedBy: "marina-e2e"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{host}}},
			Ports:       []discoveryv1.EndpointPort{{Name: new("http"), Port: &p32}},
		},
	} {
		if err := c.Client.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	// The Pod starts within a second or two; kube-proxy may not have the EndpointSlice by then, and a Service without
	// endpoints rejects connections. Its rules are the host's too, so wait until the registry answers the host through
	// the ClusterIP (an answer, not a connection: without a rule the address leaves the host, and something outside
	// may accept it).
	svc := &corev1.Service{}
	testenv.WaitUntil(t, "kube-proxy forwards Service "+ns+"/registry", time.Minute, func(ctx context.Context) (bool, string) {
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "registry"}, svc); err != nil {
			return false, err.Error()
		}
		url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, port) + "/v2/"
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := (&http.Client{Timeout: time.Second}).Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, "GET " + url + ": " + resp.Status
	})
	if err := c.Client.Create(ctx, pod); err != nil {
		t.Fatalf("creating Pod %s: %v", pod.Name, err)
	}
	testenv.WaitUntil(t, "a Pod pulls the model from "+byName, 2*time.Minute, func(ctx context.Context) (bool, string) {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err.Error()
		}
		if pod.Status.Phase == corev1.PodFailed {
			t.Fatalf("the Pod failed: %s\n%s", testenv.PodState(pod), c.Logs("kubelet"))
		}
		return pod.Status.Phase == corev1.PodSucceeded, fmt.Sprintf("Pod %s: %s", pod.Status.Phase, testenv.PodState(pod))
	})
	if logs := c.Kubectl(t, "logs", "-n", ns, pod.Name); !strings.Contains(logs, "sha256:") {
		t.Errorf("marina model pull printed no digest:\n%s", logs)
	}
}
