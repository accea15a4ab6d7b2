//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/testenv"
)

// dataPath is what makes staging's iris-classifier run for real: a registry Pods reach, marina's images built by
// make image and pushed there, and a real node (named cpu-real, tainted so that only staging's iris-classifier,
// which tolerates and selects it, runs there; prod's six HPA replicas and the GPU model stay on kwok nodes).
type dataPath struct {
	reg *testenv.Registry
	// serve and pull are marina-serve's and marina's images, pinned by the digests make image printed.
	serve, pull string
}

// realNodeName starts as the kwok CPU node's name does: running() accepts either for CPU models.
const realNodeName = "cpu-real"

// startDataPath builds and pushes marina's images and starts the real node, with the add-ons node asks for.
func startDataPath(t *testing.T, c *testenv.Cluster, node testenv.RealNode) *dataPath {
	t.Helper()
	inferencetest.Lib(t) // make image packs ONNX Runtime, and the expected answers are computed with it
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{HostIP: true})
	digests := testenv.PushLayout(t, imageLayout(t), reg.Host+"/marina")
	node.Name, node.Registry, node.Dedicated = realNodeName, reg, true
	c.StartRealNode(t, node)
	return &dataPath{
		reg:   reg,
		serve: reg.Host + "/marina/marina-serve@" + digests["marina-serve"],
		pull:  reg.Host + "/marina/marina@" + digests["marina"],
	}
}

// images is make image's OCI layout, built once for the package's suites (beside the marina binary TestMain
// builds, and removed with it); each suite pushes it to its own registry.
var images struct {
	sync.Mutex
	layout string
}

// imageLayout runs make image the first time a suite needs marina's images and returns the layout.
func imageLayout(t *testing.T) string {
	t.Helper()
	images.Lock()
	defer images.Unlock()
	if images.layout == "" {
		dir := filepath.Join(filepath.Dir(marina), "image-layout")
		start := time.Now()
		testenv.MakeImage(t, dir, "", false) // a failure ends the test here, and the next suite tries again
		t.Logf("make image took %s; the package's other suites push this build", time.Since(start).Round(time.Second))
		images.layout = dir
	}
	return images.layout
}

// runtime is the runtime block of model.yaml for a model served by marina's image from this registry.
func (d *dataPath) runtime() string {
	return fmt.Sprintf("  runtime:\n    image: %s\n    port: 8080\n    artifact: {pullImage: %s, plainHTTP: true}\n", d.serve, d.pull)
}

// onRealNode is what staging's iris-classifier adds under its environment to run on the real node.
func onRealNode() string {
	return fmt.Sprintf("      nodeSelector: {%s: real}\n      tolerations: [{key: %s, operator: Equal, value: real, effect: NoSchedule}]\n",
		testenv.RealNodeLabel, testenv.RealNodeLabel)
}

// answers posts inferencetest.Iris to the model's Service (its ClusterIP, through kube-proxy's rules on the host) and
// returns the probabilities, or why there are none yet.
func answers(ctx context.Context, c client.Client, ns, name string) ([]float32, string) {
	var svc corev1.Service
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
		return nil, err.Error()
	}
	if len(svc.Spec.Ports) == 0 || svc.Spec.ClusterIP == "" {
		return nil, fmt.Sprintf("Service %s/%s has no ClusterIP or port", ns, name)
	}
	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(svc.Spec.Ports[0].Port))) + "/v2/models/" + name + "/infer"
	body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "input", "shape": []int{3, 4}, "datatype": "FP32", "data": inferencetest.Iris}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, "POST " + url + ": " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var got struct {
		Outputs []struct{ Data []float32 }
	}
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != http.StatusOK || len(got.Outputs) != 1 {
		return nil, fmt.Sprintf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return got.Outputs[0].Data, ""
}

// answersAre waits until every answer of the Service is want (a rollout in progress may answer with either
// version: ask several times).
func answersAre(t *testing.T, c *testenv.Cluster, ns, name string, want []float32, what string) {
	t.Helper()
	var seen []string // every distinct reason, for the failure message
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("while waiting for %s/%s's answers:\n%s\n%s\n%s", ns, name, strings.Join(seen, "\n"), endpoints(c, ns), c.Logs("kube-proxy"))
		}
	})
	testenv.WaitUntil(t, what, 2*time.Minute, func(ctx context.Context) (bool, string) {
		for range 6 {
			got, why := answers(ctx, c.Client, ns, name)
			if got == nil {
				if !slices.Contains(seen, why) && ctx.Err() == nil {
					seen = append(seen, why)
				}
				return false, why
			}
			if !inferencetest.Same(got, want) {
				return false, fmt.Sprintf("%s/%s answers %v, want %v", ns, name, got, want)
			}
		}
		return true, ""
	})
}

// endpoints lists the namespace's Pods and EndpointSlices, for failure messages.
func endpoints(c *testenv.Cluster, ns string) string {
	var b strings.Builder
	var pods corev1.PodList
	_ = c.Client.List(context.Background(), &pods, client.InNamespace(ns))
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "Pod %s on %s, IP %s, %s\n", p.Name, p.Spec.NodeName, p.Status.PodIP, p.Status.Phase)
	}
	var eps discoveryv1.EndpointSliceList
	_ = c.Client.List(context.Background(), &eps, client.InNamespace(ns))
	for _, s := range eps.Items {
		for _, e := range s.Endpoints {
			fmt.Fprintf(&b, "EndpointSlice %s: %v ready=%v\n", s.Name, e.Addresses, e.Conditions.Ready != nil && *e.Conditions.Ready)
		}
	}
	out, _ := exec.Command("iptables-save", "-t", "nat").Output()
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.Contains(line, ns+"/") {
			fmt.Fprintln(&b, line)
		}
	}
	return b.String()
}

// killedServerRestarts checks, on a Ready Pod of the Deployment running on the real node, that the model server's
// process runs as rendered — user 65532, no capabilities, no privilege escalation, seccomp filtering, a read-only
// root — then kills it (SIGKILL, as the OOM killer would) and waits for the kubelet to restart it and the Service to
// answer want again.
func killedServerRestarts(t *testing.T, c *testenv.Cluster, ns, name string, want []float32) {
	t.Helper()
	var pods corev1.PodList
	if err := c.Client.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/name": name}); err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Spec.NodeName == realNodeName && p.DeletionTimestamp == nil && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready {
			pod = p
		}
	}
	if pod == nil {
		t.Fatalf("no Ready Pod of %s/%s on %s:\n%s", ns, name, realNodeName, endpoints(c, ns))
	}
	status := pod.Status.ContainerStatuses[0]
	pid := containerPID(t, strings.TrimPrefix(status.ContainerID, "containerd://"))
	for _, want := range []struct{ field, value string }{
		{"Uid", "65532\t65532\t65532\t65532"}, {"Gid", "65532\t65532\t65532\t65532"},
		{"CapEff", "0000000000000000"}, {"CapPrm", "0000000000000000"}, {"NoNewPrivs", "1"}, {"Seccomp", "2"},
	} {
		if got := procStatus(t, pid, want.field); got != want.value {
			t.Errorf("the server's %s is %q, want %q", want.field, got, want.value)
		}
	}
	if !rootReadOnly(t, pid) {
		t.Errorf("the server's root file system is writable; the rendered Pod asks for readOnlyRootFilesystem")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "the kubelet restarts the killed server", 2*time.Minute, func(ctx context.Context) (bool, string) {
		var p corev1.Pod
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
			return false, err.Error()
		}
		s := p.Status.ContainerStatuses[0]
		return s.RestartCount > status.RestartCount && s.Ready, fmt.Sprintf("restarts %d, ready %v, state %+v", s.RestartCount, s.Ready, s.State)
	})
	answersAre(t, c, ns, name, want, "the restarted server answers")
}

// containerPID finds the process of a container by its cgroup (cgroupfs: …/pod<uid>/<container id>).
func containerPID(t *testing.T, id string) int {
	t.Helper()
	cgroups, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, f := range cgroups {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte("/"+id+"\n")) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if err == nil {
			return pid
		}
	}
	t.Fatalf("no process in container %s's cgroup", id)
	return 0
}

// procStatus is a field of /proc/PID/status.
func procStatus(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rootReadOnly reports whether the process's root mount is read-only.
func rootReadOnly(t *testing.T, pid int) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
			return slices.Contains(strings.Split(f[5], ","), "ro")
		}
	}
	return false
}
