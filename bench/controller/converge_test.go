//go:build bench

// Package controller measures how fast marina controller converges many ModelDeployments on a real control plane
// (kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok nodes), against the same number of plain
// Deployments applied directly — what `marina render --backend plain` + kubectl apply gives a cluster without the
// controller. Run with bench/controller/run.sh.
package controller

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/testenv"
)

func count() int {
	if n, err := strconv.Atoi(os.Getenv("MARINA_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 1000
}

func TestConverge(t *testing.T) {
	n := count()
	base := os.Getenv("MARINA_BENCH_BASE_BIN") // BASELINE=REV: marina controller built from REV, measured the same way after
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
	pods := 2 * n // the plain and the marina pods
	if base != "" {
		pods += n
	}
	for i := range (pods+99)/100 + 1 { // 110 pods per node
		c.AddNode(t, testenv.Node{Name: fmt.Sprintf("node-%d", i), CPU: "64", Memory: "256Gi"})
	}
	ctx := context.Background()
	c.CreateNamespaces(t, "marina", "plain", "base")
	bin := filepath.Join(t.TempDir(), "marina")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/marina").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kc := kubernetes.NewForConfigOrDie(c.Config)

	// Baseline: plain Deployments, one replica each, Ready when available.
	plain := result{}
	if os.Getenv("MARINA_BENCH_PLAIN") != "0" {
		plain = measure(t, kc, n, func(i int) error {
			return c.Client.Create(ctx, deployment(i))
		}, func() (int, error) {
			var l appsv1.DeploymentList
			if err := c.Client.List(ctx, &l, client.InNamespace("plain")); err != nil {
				return 0, err
			}
			ready := 0
			for _, d := range l.Items {
				if d.Status.AvailableReplicas == 1 {
					ready++
				}
			}
			return ready, nil
		})
	}
	marina := converge(t, c, kc, bin, "marina", n, os.Getenv("MARINA_BENCH_PROFILE"))
	if base != "" {
		b := converge(t, c, kc, base, "base", n, "")
		fmt.Printf("%d ModelDeployments via marina-base:   Ready in %6.1fs, API server %6.0f requests/s, controller peak RSS %d MiB (anonymous %d MiB)\n",
			n, b.took.Seconds(), b.rate, b.peak>>10, b.anon>>10)
		fmt.Printf("ratio marina/marina-base (%s): time to Ready %.2f, peak RSS %.2f, anonymous %.2f\n", os.Getenv("BASELINE"),
			marina.took.Seconds()/b.took.Seconds(), float64(marina.peak)/float64(b.peak), float64(marina.anon)/float64(b.anon))
	}

	if plain.took == 0 { // MARINA_BENCH_PLAIN=0: the controller alone, for its memory
		fmt.Printf("%d ModelDeployments via marina: Ready in %6.1fs, API server %6.0f requests/s, controller peak RSS %d MiB (anonymous %d MiB)\n",
			n, marina.took.Seconds(), marina.rate, marina.peak>>10, marina.anon>>10)
		return
	}
	fmt.Printf("%d plain Deployments applied directly:  Ready in %6.1fs, API server %6.0f requests/s\n", n, plain.took.Seconds(), plain.rate)
	fmt.Printf("%d ModelDeployments via marina:        Ready in %6.1fs, API server %6.0f requests/s, controller peak RSS %d MiB (anonymous %d MiB)\n",
		n, marina.took.Seconds(), marina.rate, marina.peak>>10, marina.anon>>10)
	ratio := marina.took.Seconds() / plain.took.Seconds()
	fmt.Printf("ratio marina/plain time to Ready: %.2fx (the controller adds a Deployment, 3 Services and a status per model)\n", ratio)
	// Rows of bench/README.md's table of goals (bench/goal.sh's format).
	verdict := map[bool]string{true: "met", false: "not met"}
	fmt.Printf("goal\tcontroller\ttime to Ready, %d ModelDeployments/plain Deployments\t<= 1.1\t%.2f (%.0f s / %.0f s)\t%s\n",
		n, ratio, marina.took.Seconds(), plain.took.Seconds(), verdict[ratio <= 1.1])
	fmt.Printf("goal\tcontroller\tcontroller peak RSS, %d ModelDeployments\t< 100 MiB\t%d MiB (anonymous %d MiB)\t%s\n",
		n, marina.peak>>10, marina.anon>>10, verdict[marina.peak>>10 < 100])
}

// controllerRun is how one controller converged: its time to Ready and its memory.
type controllerRun struct {
	result
	peak, anon int64 // VmHWM, and the most RssAnon sampled (the rest of the RSS is the binary's mapped pages), KiB
}

// converge runs bin's marina controller on namespace ns, creates n ModelDeployments there and waits for all Ready,
// sampling the controller's memory; the controller is stopped before it returns. With profile set, the controller's
// heap profile is written there first.
func converge(t *testing.T, c *testenv.Cluster, kc kubernetes.Interface, bin, ns string, n int, profile string) controllerRun {
	ctx := context.Background()
	args := []string{"controller", "--kubeconfig", c.Kubeconfig, "-n", ns, "--metrics-addr", "0", "--health-addr", "0", "--concurrency", "8"}
	pprofAddr := ""
	if profile != "" {
		pprofAddr = freeAddr(t)
		args = append(args, "--pprof-addr", pprofAddr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var run controllerRun
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			hw, a := memory(cmd.Process.Pid)
			run.peak, run.anon = max(run.peak, hw), max(run.anon, a)
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	run.result = measure(t, kc, n, func(i int) error {
		return c.Client.Create(ctx, modelDeployment(ns, i))
	}, func() (int, error) {
		var l v1alpha1.ModelDeploymentList
		if err := c.Client.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return 0, err
		}
		ready := 0
		for _, md := range l.Items {
			if meta.IsStatusConditionTrue(md.Status.Conditions, v1alpha1.ReadyCondition) {
				ready++
			}
		}
		return ready, nil
	})
	close(done)
	wg.Wait()
	if profile != "" {
		heapProfile(t, pprofAddr, profile)
	}
	hw, a := memory(cmd.Process.Pid)
	run.peak, run.anon = max(run.peak, hw), max(run.anon, a)
	return run
}

type result struct {
	took time.Duration
	rate float64 // API server requests per second over the run
}

// measure creates n objects with 16 workers and waits until ready reports all n, counting the API server's requests.
func measure(t *testing.T, kc kubernetes.Interface, n int, create func(int) error, ready func() (int, error)) result {
	before := requests(t, kc)
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if err := create(i); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	deadline := time.Now().Add(20 * time.Minute)
	for {
		got, err := ready()
		if err != nil {
			t.Fatal(err)
		}
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Ready after 20 minutes", got, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	took := time.Since(start)
	return result{took: took, rate: float64(requests(t, kc)-before) / took.Seconds()}
}

// requests sums apiserver_request_total from the API server's own metrics.
func requests(t *testing.T, kc kubernetes.Interface) float64 {
	raw, err := kc.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// memory is a process's peak resident set (VmHWM) and its anonymous resident memory now (RssAnon: heap, stacks;
// not the executable's pages, which the kernel can drop and read again), in KiB.
func memory(pid int) (hwm, anon int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			hwm = v
		case "RssAnon:":
			anon = v
		}
	}
	return hwm, anon
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// heapProfile writes the controller's heap profile (net/http/pprof on addr) to path.
func heapProfile(t *testing.T, addr, path string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, b)
	}
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		t.Fatalf("the controller's heap profile: %v", err)
	}
	fmt.Printf("heap profile of marina controller at the end: %s (go tool pprof -sample_index=inuse_space -top %s)\n", path, path)
}

func labels(i int) map[string]string { return map[string]string{"app": fmt.Sprintf("m%d", i)} }

func deployment(i int) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m%d", i), Namespace: "plain"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels(i)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels(i)},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "model-server", Image: "ghcr.io/marina-dev/marina-serve:0.1.0"}}},
			},
		},
	}
}

// modelDeployment is model i of namespace ns as the plain baseline's Deployment i, one replica: with marina router off, which would
// add a Deployment of 2 router pods per model (a ServiceAccount, a Role and a RoleBinding too) that the baseline has
// no counterpart for.
func modelDeployment(ns string, i int) *v1alpha1.ModelDeployment {
	one, off := int32(1), false
	return &v1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m%d", i), Namespace: ns},
		Spec: v1alpha1.ModelDeploymentSpec{
			Model: fmt.Sprintf("m%d", i), Version: "1.0.0", Replicas: &one,
			Artifact: v1alpha1.Artifact{URI: "models/m/v1.0.0.onnx", Digest: "sha256:" + strings.Repeat("ab", 32), Size: 1024, Format: "onnx"},
			Runtime:  v1alpha1.Runtime{Image: "ghcr.io/marina-dev/marina-serve:0.1.0"},
			Router:   &v1alpha1.Router{Enabled: &off},
		},
	}
}
