package testenv

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/eventually"
)

// StatusHistory is every status the ModelDeployments of one namespace had, in the order a watch delivered them:
// what rollout tests read to check that a rollout went through each step once, whoever ran the controller.
type StatusHistory struct {
	mu       sync.Mutex
	statuses []v1alpha1.ModelDeploymentStatus
	versions []string // the resourceVersion of each status
}

// WatchStatus records the ModelDeployment statuses written in ns from now on until the test ends. A watch the
// server ends is opened again from the last status seen.
func (c *Cluster) WatchStatus(tb TB, ns string) *StatusHistory {
	tb.Helper()
	wc, err := client.NewWithWatch(c.Config, client.Options{Scheme: Scheme()})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &StatusHistory{}
	open := func(rv string) (watch.Interface, error) {
		opts := []client.ListOption{client.InNamespace(ns)}
		if rv != "" {
			opts = append(opts, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		}
		return wc.Watch(ctx, &v1alpha1.ModelDeploymentList{}, opts...)
	}
	rv := ""
	w, err := open(rv)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for ev := range w.ResultChan() {
				md, ok := ev.Object.(*v1alpha1.ModelDeployment)
				if !ok {
					continue
				}
				h.mu.Lock()
				h.statuses = append(h.statuses, *md.Status.DeepCopy())
				h.versions = append(h.versions, md.ResourceVersion)
				rv = md.ResourceVersion
				h.mu.Unlock()
			}
			if ctx.Err() != nil {
				return
			}
			if w, err = open(rv); err != nil {
				return
			}
		}
	}()
	tb.Cleanup(func() {
		cancel()
		w.Stop()
		<-done
	})
	return h
}

// Through waits until the watch has delivered md's resourceVersion and returns h: a watch lags behind the GET that
// saw md (by seconds on a loaded machine), so a test reads the history only through the status it waited for.
func (h *StatusHistory) Through(tb TB, md *v1alpha1.ModelDeployment) *StatusHistory {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := eventually.Poll(ctx, func(context.Context) (bool, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return slices.Contains(h.versions, md.ResourceVersion), nil
	}); err != nil {
		tb.Fatalf("the watch did not deliver resourceVersion %s within 30s: %v; statuses seen:%s", md.ResourceVersion, err, h)
	}
	return h
}

// String lists the statuses seen, one line each: what a failed assertion on the history needs to be understood.
func (h *StatusHistory) String() string {
	var b strings.Builder
	for _, st := range h.Statuses() {
		step := "-"
		if st.CurrentStepIndex != nil {
			step = fmt.Sprint(*st.CurrentStepIndex)
		}
		fmt.Fprintf(&b, "\n  stable %s canary %q step %s weights %+v runs %d abort %q", st.StableVersion, st.CanaryVersion, step, st.Weights, len(st.AnalysisRuns), st.AbortMessage)
	}
	return b.String()
}

// Statuses returns a copy of the statuses recorded so far, oldest first.
func (h *StatusHistory) Statuses() []v1alpha1.ModelDeploymentStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]v1alpha1.ModelDeploymentStatus(nil), h.statuses...)
}

// Steps is the sequence of step indexes the rollout of version went through, each once.
func (h *StatusHistory) Steps(version string) []int32 {
	var out []int32
	for _, st := range h.Statuses() {
		if st.CanaryVersion != version || st.CurrentStepIndex == nil {
			continue
		}
		if i := *st.CurrentStepIndex; len(out) == 0 || out[len(out)-1] != i {
			out = append(out, i)
		}
	}
	return out
}

// LastRun is the last status of the analysis run name.
func (h *StatusHistory) LastRun(name string) v1alpha1.AnalysisRunStatus {
	var run v1alpha1.AnalysisRunStatus
	for _, st := range h.Statuses() {
		for _, r := range st.AnalysisRuns {
			if r.Name == name {
				run = r
			}
		}
	}
	return run
}

// WaitForModelDeployment polls the ModelDeployment key (which may not exist yet) until cond holds and returns it;
// after timeout it fails tb with what and the last status.
func (c *Cluster) WaitForModelDeployment(tb TB, key client.ObjectKey, what string, timeout time.Duration, cond func(*v1alpha1.ModelDeployment) bool) *v1alpha1.ModelDeployment {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	md := &v1alpha1.ModelDeployment{}
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		if err := c.Client.Get(ctx, key, md); err != nil {
			return false, client.IgnoreNotFound(err) // not there yet: a GitOps engine is still applying it
		}
		return cond(md), nil
	})
	if err != nil {
		tb.Fatalf("%s: %v\nstatus: %+v", what, err, md.Status)
	}
	return md
}
