package testenv

import (
	"context"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kwokAnnotation marks the Nodes kwok manages (and only those).
const kwokAnnotation = "kwok.x-k8s.io/node"

// GPUResource is the extended resource the NVIDIA device plugin advertises.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// Node describes a fake node kwok keeps Ready.
type Node struct {
	Name string
	// CPU and Memory are the node's capacity; "8" and "32Gi" when empty.
	CPU, Memory string
	// GPUs is the nvidia.com/gpu capacity. A GPU node is labelled nvidia.com/gpu.present=true and tainted
	// nvidia.com/gpu:NoSchedule, as the NVIDIA GPU operator does.
	GPUs int
}

// AddNode creates a Node that kwok manages: it becomes Ready and runs the Pods scheduled onto it.
// It needs a cluster started with Options.Workloads.
func (c *Cluster) AddNode(tb TB, n Node) *corev1.Node {
	tb.Helper()
	cpu, mem := n.CPU, n.Memory
	if cpu == "" {
		cpu = "8"
	}
	if mem == "" {
		mem = "32Gi"
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(mem),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        n.Name,
			Annotations: map[string]string{kwokAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": n.Name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if n.GPUs > 0 {
		capacity[GPUResource] = resource.MustParse(strconv.Itoa(n.GPUs))
		node.Labels["nvidia.com/gpu.present"] = "true"
		node.Spec.Taints = []corev1.Taint{{Key: string(GPUResource), Effect: corev1.TaintEffectNoSchedule}}
	}
	if err := c.Client.Create(context.Background(), node); err != nil {
		tb.Fatalf("creating node %s: %v", n.Name, err)
	}
	return node
}

// CreateNamespaces creates namespaces, e.g. those Argo CD and Flux run in once they are installed.
func (c *Cluster) CreateNamespaces(tb TB, names ...string) {
	tb.Helper()
	for _, ns := range names {
		if err := c.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			tb.Fatalf("creating namespace %s: %v", ns, err)
		}
	}
}

// PodReady reports whether p's Ready condition is True: what kwok sets on a fake node's pods once they "run".
func PodReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
