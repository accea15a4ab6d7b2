//go:build e2e

package node

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestARealNodeRunsAPodAndLeavesNothingBehind starts the real node, runs a Pod on it (the pause image the node
// pushed, through the API server, the scheduler and the kubelet), and checks after the node's teardown that the host
// is as it was: no processes, mounts, network namespaces, links, cgroups or iptables rules left — also when the
// kubelet died first, so that nothing stopped the Pod's sandbox (a crashed or failed test).
func TestARealNodeRunsAPodAndLeavesNothingBehind(t *testing.T) {
	testenv.HoldHost(t) // no other package's real node between the snapshots
	for _, tc := range []struct {
		name        string
		killKubelet bool
	}{
		{name: "torn down in order"},
		{name: "torn down after the kubelet died", killKubelet: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testenv.SnapshotHost()
			t.Run("node", func(t *testing.T) {
				c := testenv.Start(t, testenv.Options{Workloads: true})
				reg := testenv.StartRegistry(t, testenv.RegistryOptions{HostIP: true})
				c.StartRealNode(t, testenv.RealNode{Registry: reg})
				pod := runPod(t, c, reg.Host+"/marina-test/pause:"+testenv.KubernetesVersion)
				if !strings.HasPrefix(pod.Status.PodIP, "10.244.0.") {
					t.Errorf("Pod IP %s is not from the node's CNI range %s", pod.Status.PodIP, testenv.PodCIDR)
				}
				if tc.killKubelet {
					killKubelet(t)
				}
			})
			for _, d := range before.Diff(testenv.SnapshotHost()) {
				t.Errorf("across the node's life, %s", d)
			}
		})
	}
}

// runPod runs a Pod of image on the cluster and returns it once it is Running with an IP.
func runPod(t *testing.T, c *testenv.Cluster, image string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "sleeper"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "pause", Image: image}}},
	}
	if err := c.Client.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err
		}
		return pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != "", nil
	})
	if err != nil {
		t.Fatalf("the Pod did not run: %v\nstatus %+v\n%s\n%s", err, pod.Status, c.Logs("kubelet"), c.Logs("containerd"))
	}
	return pod
}

// killKubelet kills the node's kubelet (SIGKILL), as a crash would.
func killKubelet(t *testing.T) {
	t.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.HasSuffix(bytes.SplitN(b, []byte{0}, 2)[0], []byte("/kubelet")) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if err != nil {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("no kubelet process found")
}
