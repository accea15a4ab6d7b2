//go:build e2e

package node

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/testenv"
)

// hostState is what a real node may leave behind on the host: it must be the same before and after.
type hostState struct {
	netns, mounts, cgroups, links, shims string
	iptables                             string
}

func snapshot(t *testing.T) hostState {
	t.Helper()
	run := func(name string, args ...string) string {
		b, _ := exec.Command(name, args...).Output()
		return string(b)
	}
	var s hostState
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		s.netns += e.Name() + "\n"
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for line := range strings.SplitSeq(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			s.mounts += f[4] + "\n"
		}
	}
	cg, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	s.cgroups = strings.Join(cg, "\n")
	s.links = run("ip", "-br", "link")
	for _, p := range procNames() {
		if p == "containerd-shim-runc-v2" || p == "containerd" || p == "kubernetes" || p == "pause" {
			s.shims += p + "\n"
		}
	}
	// Rules and user-defined chains; not comments (they carry the time), counters, or the built-in chains of an
	// empty table (iptables' nftables backend keeps a table once it was used).
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		for line := range strings.SplitSeq(run(save), "\n") {
			if strings.HasPrefix(line, "-A ") || strings.HasPrefix(line, ":") && !builtinChain.MatchString(line) {
				s.iptables += line + "\n"
			}
		}
	}
	return s
}

var builtinChain = regexp.MustCompile(`^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) `)

func procNames() []string {
	var names []string
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range comms {
		if b, err := os.ReadFile(c); err == nil {
			names = append(names, strings.TrimSpace(string(b)))
		}
	}
	return names
}

// TestARealNodeRunsAPodAndLeavesNothingBehind starts the real node, runs a Pod on it (the pause image the node
// pushed, through the API server, the scheduler and the kubelet), and checks after the node's teardown that the host
// is as it was: no processes, mounts, network namespaces, links, cgroups or iptables rules left.
func TestARealNodeRunsAPodAndLeavesNothingBehind(t *testing.T) {
	before := snapshot(t)
	t.Run("node", func(t *testing.T) {
		c := testenv.Start(t, testenv.Options{Workloads: true})
		reg := testenv.StartRegistry(t, testenv.RegistryOptions{HostIP: true})
		c.StartRealNode(t, testenv.RealNode{Registry: reg})
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "sleeper"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "pause", Image: reg.Host + "/marina-test/pause:" + testenv.KubernetesVersion,
			}}},
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
		if !strings.HasPrefix(pod.Status.PodIP, "10.244.0.") {
			t.Errorf("Pod IP %s is not from the node's CNI range %s", pod.Status.PodIP, testenv.PodCIDR)
		}
	})
	after := snapshot(t)
	for _, d := range []struct{ what, before, after string }{
		{"network namespaces", before.netns, after.netns},
		{"mounts", before.mounts, after.mounts},
		{"kubepods cgroups", before.cgroups, after.cgroups},
		{"network links", before.links, after.links},
		{"node processes", before.shims, after.shims},
		{"iptables rules", before.iptables, after.iptables},
	} {
		if d.before != d.after {
			t.Errorf("%s changed across the node's life:\nbefore:\n%s\nafter:\n%s", d.what, d.before, d.after)
		}
	}
}
