package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/prereq"
)

// RealNode describes the one node of a test cluster where containers really run: kubelet and kube-proxy (from
// hack/controlplane.sh's binary), Debian's containerd and runc, the CNI bridge plugin (hack/node.sh). kwok nodes
// (AddNode) stay for GPUs and scale.
type RealNode struct {
	// Name is the Node's name; "real-node" when empty.
	Name string
	// Registry is where containerd pulls images from (plain HTTP, started with RegistryOptions.HostIP so Pods reach
	// it too); the sandbox ("pause") image is pushed there.
	Registry *Registry
	// Dedicated taints the node RealNodeTaint, so only Pods that tolerate it (and select RealNodeLabel) run there,
	// and everything else stays on kwok nodes.
	Dedicated bool
	// MetricsServer runs metrics-server (hack/addons.sh) on the node, serving metrics.k8s.io from what the kubelet
	// measures: HorizontalPodAutoscalers scale on real CPU use. Not with Options.Metrics.
	MetricsServer bool
	// DNS runs CoreDNS (hack/addons.sh) on the node behind the kube-dns Service (ClusterDNS), which the kubelet
	// announces to Pods: they resolve Service names.
	DNS bool
}

// RealNodeLabel is the label the real node carries (with the value "real").
const RealNodeLabel = "marina.dev/test-node"

// RealNodeTaint is the taint of a Dedicated real node.
var RealNodeTaint = corev1.Taint{Key: RealNodeLabel, Value: "real", Effect: corev1.TaintEffectNoSchedule}

// PodCIDR is the real node's Pod network (the CNI bridge's subnet).
const PodCIDR = "10.244.0.0/24"

// NodeAssets returns the directory hack/node.sh prints (MARINA_NODE_ASSETS, or its default under the cache).
func NodeAssets(tb TB) string {
	tb.Helper()
	return cached(tb, NodeAsset)
}

// realNode is what StartRealNode started, for its teardown.
type realNode struct {
	name, dir, sock string
	c               *Cluster
	netnsBefore     map[string]bool
	sysctls         map[string]string
	iptables        map[string][]byte
}

// StartRealNode runs a real node for the cluster (started with Options.Workloads) and returns once the Node is
// Ready. Everything it sets up on the host — processes, mounts, network namespaces, the CNI bridge, iptables rules,
// cgroups, sysctls — is undone when the test ends, also after a failure. It needs root; one runs per host at a
// time (tests in other packages wait for the one before to be torn down).
func (c *Cluster) StartRealNode(tb TB, n RealNode) *corev1.Node {
	tb.Helper()
	if os.Geteuid() != 0 {
		prereq.Missing(tb, "a real node needs root (containerd, kubelet, iptables)")
		return nil
	}
	assets := NodeAssets(tb)
	bins := map[string]string{}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "iptables-save", "iptables-restore", "ip"} {
		p, err := exec.LookPath(b)
		if err != nil {
			prereq.Missing(tb, b+" not found: run `bash hack/node.sh` (installs Debian's containerd, runc, iptables)")
			return nil
		}
		bins[b] = p
	}
	if n.Name == "" {
		n.Name = "real-node"
	}
	ip := hostIP()
	if ip == nil {
		tb.Fatal("the host has no non-loopback IPv4 address for the node")
	}
	if n.Registry == nil {
		tb.Fatal("RealNode.Registry is required: containerd pulls the sandbox image and every other image from it")
	}
	pause := pushPause(tb, assets, n.Registry.Host)

	if !holdsHost(tb) {
		HoldHost(tb)
	}

	// A short directory: unix socket paths are limited to 108 bytes, and TempDir's can be long.
	dir, err := os.MkdirTemp("", "marina-node-")
	if err != nil {
		tb.Fatal(err)
	}
	rn := &realNode{name: n.Name, dir: dir, sock: filepath.Join(dir, "containerd.sock"), c: c,
		netnsBefore: netnsNames(), sysctls: map[string]string{}, iptables: map[string][]byte{}}
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		if b, err := exec.Command(save).Output(); err == nil {
			rn.iptables[save] = b
		}
	}
	tb.Cleanup(func() { rn.teardown(tb) })
	for k, v := range map[string]string{"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"} {
		rn.setSysctl(tb, k, v)
	}

	rn.writeConfigs(tb, assets, n.Registry.Host, pause, ip, n.DNS)
	c.start(tb, "containerd", exec.Command(bins["containerd"], "--config", filepath.Join(dir, "containerd.toml")))
	rn.waitContainerd(tb)
	kubelet := exec.Command(filepath.Join(c.Assets, "kubelet"), "--config="+filepath.Join(dir, "kubelet.yaml"),
		"--kubeconfig="+c.Kubeconfig, "--hostname-override="+n.Name, "--node-ip="+ip.String(),
		"--root-dir="+filepath.Join(dir, "kubelet"), "--cert-dir="+filepath.Join(dir, "pki"),
		"--node-labels="+RealNodeLabel+"=real", "--v=1")
	if n.Dedicated {
		kubelet.Args = append(kubelet.Args, "--register-with-taints="+RealNodeTaint.ToString())
	}
	c.start(tb, "kubelet", kubelet)
	c.run(tb, "kube-proxy", "--config="+filepath.Join(dir, "kube-proxy.yaml"), "--v=1")
	// Cleanup is LIFO: the Pods go while the kubelet still runs (it stops their sandboxes, which releases their
	// network namespaces and CNI rules), then the processes stop, then teardown removes what is left.
	tb.Cleanup(func() { rn.drain(tb) })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node := &corev1.Node{}
	err = eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		if err := c.Client.Get(ctx, client.ObjectKey{Name: n.Name}, node); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if err != nil {
		tb.Fatalf("node %s did not become Ready: %v (conditions %+v)\n%s\n%s", n.Name, err, node.Status.Conditions,
			c.Logs("kubelet"), c.Logs("containerd"))
	}
	if n.MetricsServer || n.DNS {
		rn.startAddons(tb, n, ip)
	}
	return node
}

// hostHolder is the test holding the host's real-node lock in this process (HoldHost), if any.
var hostHolder struct {
	sync.Mutex
	tb TB
}

// HoldHost takes the host's real-node lock until the test ends (tests in other packages wait): one real node per
// host at a time, since kubelet's port, the CNI bridge, the kubepods cgroups and iptables are the host's.
// StartRealNode takes it itself; a test that compares the host before and after a real node holds it around both.
func HoldHost(tb TB) {
	tb.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "marina-real-node.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		tb.Fatalf("waiting for the host's real node lock: %v", err)
	}
	hostHolder.Lock()
	hostHolder.tb = tb
	hostHolder.Unlock()
	tb.Cleanup(func() { // after everything the test set up later (Cleanup is LIFO)
		hostHolder.Lock()
		hostHolder.tb = nil
		hostHolder.Unlock()
		_ = lock.Close() // releases the lock
	})
}

// holdsHost reports whether tb or a test it runs in holds the host (subtests' names extend their parent's).
func holdsHost(tb TB) bool {
	hostHolder.Lock()
	defer hostHolder.Unlock()
	h := hostHolder.tb
	return h != nil && (tb.Name() == h.Name() || strings.HasPrefix(tb.Name(), h.Name()+"/"))
}

// pushPause pushes the sandbox image — hack/node.sh's static pause as /pause, run as 65535 — to the registry; it
// returns the reference (by tag) containerd's sandbox_image names.
func pushPause(tb TB, assets, registry string) string {
	tb.Helper()
	ref := registry + "/marina-test/pause:" + KubernetesVersion
	pushBinary(tb, filepath.Join(assets, "pause"), ref, "65535:65535")
	return ref
}

// writeConfigs writes containerd's, the CNI's, kubelet's and kube-proxy's configuration into the node directory.
func (rn *realNode) writeConfigs(tb TB, assets, registry, pause string, ip net.IP, dns bool) {
	tb.Helper()
	d := rn.dir
	// restrict_oom_score_adj: root here may lack CAP_SYS_RESOURCE, which the pause container's -998 needs.
	// /usr/sbin/runc is Debian's (with libseccomp); a runc on PATH built without it fails on seccomp profiles.
	writeFile(tb, filepath.Join(d, "containerd.toml"), fmt.Appendf(nil, `version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = %[3]q
[ttrpc]
  address = "%[3]s.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[6]q
    conf_dir = %[7]q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %[8]q
`, filepath.Join(d, "containerd"), filepath.Join(d, "run"), rn.sock, filepath.Join(d, "opt"), pause,
		filepath.Join(assets, "cni"), filepath.Join(d, "cni"), filepath.Join(d, "certs.d")))
	hosts := filepath.Join(d, "certs.d", registry)
	if err := os.MkdirAll(hosts, 0o700); err != nil {
		tb.Fatal(err)
	}
	writeFile(tb, filepath.Join(hosts, "hosts.toml"), fmt.Appendf(nil,
		"server = \"http://%[1]s\"\n[host.\"http://%[1]s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", registry))
	if err := os.MkdirAll(filepath.Join(d, "cni"), 0o700); err != nil {
		tb.Fatal(err)
	}
	writeFile(tb, filepath.Join(d, "cni", "10-marina-test.conflist"), fmt.Appendf(nil, `{
  "cniVersion": "1.0.0",
  "name": "marina-test",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, bridgeName, filepath.Join(d, "ipam"), PodCIDR))
	// The host's disk may be fuller than kubelet's default eviction thresholds allow (10% free): a test node
	// evicts on nothing but memory. Anonymous access with AlwaysAllow lets the API server (which has no kubelet
	// client certificate here) fetch logs and exec; the node listens on the host only for this test.
	writeFile(tb, filepath.Join(d, "kubelet.yaml"), fmt.Appendf(nil, `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://%s
podLogsDir: %q
address: %s
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
podCIDR: %q
resolvConf: /etc/resolv.conf
syncFrequency: 5s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 2s
%s`, rn.sock, filepath.Join(d, "pod-logs"), ip, PodCIDR, clusterDNS(dns)))
	writeFile(tb, filepath.Join(d, "kube-proxy.yaml"), fmt.Appendf(nil, `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %q}
hostnameOverride: %q
mode: iptables
clusterCIDR: %q
healthzBindAddress: ""
metricsBindAddress: ""
conntrack: {maxPerCore: 0}
`, rn.c.Kubeconfig, rn.name, PodCIDR))
}

// bridgeName is the CNI bridge the real node's Pods are attached to.
const bridgeName = "marina0"

// waitContainerd waits for containerd's socket.
func (rn *realNode) waitContainerd(tb TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := eventually.Poll(ctx, func(context.Context) (bool, error) {
		conn, err := net.Dial("unix", rn.sock)
		if err == nil {
			_ = conn.Close()
		}
		return err == nil, nil
	}); err != nil {
		tb.Fatalf("containerd did not listen on %s: %v\n%s", rn.sock, err, rn.c.Logs("containerd"))
	}
}

// setSysctl sets a sysctl for the node's life and restores it in teardown.
func (rn *realNode) setSysctl(tb TB, key, value string) {
	tb.Helper()
	p := filepath.Join("/proc/sys", key)
	old, err := os.ReadFile(p)
	if err != nil {
		tb.Fatalf("sysctl %s: %v", key, err)
	}
	rn.sysctls[p] = strings.TrimSpace(string(old))
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		tb.Fatalf("sysctl %s=%s: %v", key, value, err)
	}
}

// teardown stops what StartRealNode started (if its Cleanup has not yet) and removes whatever is left — shims,
// mounts, network namespaces, veths and the bridge, cgroups, iptables rules, sysctls, the directory — also when the
// node failed half-way and drain could not run.
func (rn *realNode) teardown(tb TB) {
	tb.Helper()
	// Stop kubelet and kube-proxy before containerd, and containerd before its shims are killed: a kubelet
	// restarting containers during teardown would recreate what is removed.
	for _, component := range []string{"kube-proxy", "kubelet", "containerd"} {
		rn.c.stop(component)
	}
	killShims(rn.sock)
	// Containers outlive their shim (runc starts each in its own session): whatever still runs in the Pods'
	// cgroups — a kubelet that died first stopped nothing — is killed there.
	killCgroup(tb, "kubepods")
	unmountUnder(tb, rn.dir)
	for ns := range netnsNames() {
		if !rn.netnsBefore[ns] && strings.HasPrefix(ns, "cni-") {
			p := filepath.Join("/run/netns", ns)
			_ = syscall.Unmount(p, syscall.MNT_DETACH)
			_ = os.Remove(p)
		}
	}
	// A sandbox the kubelet could not stop keeps its veth on the bridge.
	if out, err := exec.Command("ip", "-o", "link", "show", "master", bridgeName).Output(); err == nil {
		for line := range strings.SplitSeq(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 1 {
				_ = exec.Command("ip", "link", "delete", strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]).Run()
			}
		}
	}
	_ = exec.Command("ip", "link", "delete", bridgeName).Run()
	removeCgroups("kubepods")
	for save, rules := range rn.iptables {
		restoreIPTables(tb, save, rules)
	}
	for p, v := range rn.sysctls {
		_ = os.WriteFile(p, []byte(v), 0o644)
	}
	removeLogLinks(rn.dir)
	if err := os.RemoveAll(rn.dir); err != nil {
		tb.Errorf("removing the node's directory: %v", err)
	}
}

// drain deletes every Pod bound to the node and waits (up to 30 s; a few when the kubelet is alive) until the
// kubelet has stopped them.
func (rn *realNode) drain(tb TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pods corev1.PodList
	if err := rn.c.Client.List(ctx, &pods, client.MatchingFields{"spec.nodeName": rn.name}); err != nil {
		tb.Logf("listing the node's Pods for teardown: %v", err)
		return
	}
	for i := range pods.Items {
		_ = rn.c.Client.Delete(ctx, &pods.Items[i], client.GracePeriodSeconds(1))
	}
	// Controllers recreate Pods of Deployments: cordon the node so none lands here again.
	node := &corev1.Node{}
	if err := rn.c.Client.Get(ctx, client.ObjectKey{Name: rn.name}, node); err == nil {
		node.Spec.Unschedulable = true
		_ = rn.c.Client.Update(ctx, node)
	}
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		var left corev1.PodList
		if err := rn.c.Client.List(ctx, &left, client.MatchingFields{"spec.nodeName": rn.name}); err != nil {
			return false, err
		}
		for i := range left.Items {
			_ = rn.c.Client.Delete(ctx, &left.Items[i], client.GracePeriodSeconds(1))
		}
		return len(left.Items) == 0, nil
	})
	if err != nil {
		tb.Logf("the node's Pods were not all gone before teardown: %v\n%s", err, rn.c.Logs("kubelet"))
	}
	_ = rn.c.Client.Delete(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: rn.name}})
}

// restoreIPTables puts back the rules iptables-save printed before the node started (kubelet, kube-proxy and the
// CNI plugins add chains and rules): each table is restored as it was, and a table that held nothing then is
// flushed (iptables-restore replaces every table its input names).
func restoreIPTables(tb TB, save string, before []byte) {
	tb.Helper()
	now, err := exec.Command(save).Output()
	if err != nil {
		tb.Errorf("%s: %v", save, err)
		return
	}
	input := slices.Clone(before)
	for line := range strings.SplitSeq(string(now), "\n") {
		if strings.HasPrefix(line, "*") && !bytes.Contains(before, []byte("\n"+line+"\n")) && !bytes.HasPrefix(before, []byte(line+"\n")) {
			input = fmt.Appendf(input, "%s\nCOMMIT\n", line)
		}
	}
	restore := exec.Command(strings.Replace(save, "-save", "-restore", 1))
	restore.Stdin = bytes.NewReader(input)
	if out, err := restore.CombinedOutput(); err != nil {
		tb.Errorf("restoring the host's iptables rules: %v\n%s", err, out)
	}
}

// killShims kills the containerd shims serving the containerd at sock (not their containers).
func killShims(sock string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "containerd-shim-runc-v2" || !slices.Contains(args, sock) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &pid); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL) // its containers run in sessions of their own: see killCgroup
		}
	}
}

// killCgroup kills every process in the cgroup tree name (of the pids hierarchy, or cgroup v2) and waits up to
// 10 s for it to be empty.
func killCgroup(tb TB, name string) {
	tb.Helper()
	root := filepath.Join("/sys/fs/cgroup/pids", name)
	if _, err := os.Stat(root); err != nil {
		root = filepath.Join("/sys/fs/cgroup", name)
	}
	procs := func() []int {
		var pids []int
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for f := range strings.FieldsSeq(string(b)) {
				var pid int
				if _, err := fmt.Sscanf(f, "%d", &pid); err == nil {
					pids = append(pids, pid)
				}
			}
			return nil
		})
		return pids
	}
	deadline := time.Now().Add(10 * time.Second)
	for pids := procs(); len(pids) > 0; pids = procs() {
		if time.Now().After(deadline) {
			tb.Errorf("processes %v still run in %s", pids, root)
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unmountUnder unmounts every mount point below dir, deepest first.
func unmountUnder(tb TB, dir string) {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		tb.Errorf("reading mountinfo: %v", err)
		return
	}
	var points []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			tb.Errorf("unmounting %s: %v", p, err)
		}
	}
}

// netnsNames lists the named network namespaces (/run/netns).
func netnsNames() map[string]bool {
	names := map[string]bool{}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names
}

// removeCgroups removes the cgroup tree name in every cgroup v1 hierarchy (and cgroup v2), deepest first; the
// kubelet creates kubepods and never removes it.
func removeCgroups(name string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
	if _, err := os.Stat("/sys/fs/cgroup/" + name); err == nil {
		roots = append(roots, "/sys/fs/cgroup/"+name)
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.Reverse(dirs)
		for _, d := range dirs {
			_ = syscall.Rmdir(d)
		}
	}
}

// removeLogLinks removes the symbolic links the kubelet makes in /var/log/containers to its Pods' logs below dir.
func removeLogLinks(dir string) {
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, dir+"/") {
			_ = os.Remove(l)
		}
	}
}
