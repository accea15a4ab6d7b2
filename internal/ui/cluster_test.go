package ui_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/status"
	"github.com/marina-dev/marina/internal/testenv"
	"github.com/marina-dev/marina/internal/ui"
)

// unreachableCluster is a Cluster whose API server cannot be reached: nothing serves Kubernetes on port 1.
func unreachableCluster(t *testing.T) *status.Cluster {
	t.Helper()
	c, err := status.NewCluster(&rest.Config{Host: "http://127.0.0.1:1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWithAClusterEachCellShowsWhatRunsAndDriftStandsOut applies what Git rendered for iris-classifier's staging
// and prod (prod rendered before the hand edit that moved it to 1.1.0, as a GitOps engine that has not synced yet
// would leave it) to a real API server with kwok running the Pods.
func TestWithAClusterEachCellShowsWhatRunsAndDriftStandsOut(t *testing.T) {
	t.Parallel()
	dir := dashboardRepo(t)
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
	c.AddNode(t, testenv.Node{Name: "cpu-1"})
	for _, env := range []string{"staging", "prod"} {
		c.Create(t, testenv.Kustomize(t, filepath.Join(dir, "applications", "iris-classifier", env))...)
	}
	cfg := rest.CopyConfig(c.Config)
	cfg.Timeout = 15 * time.Second
	cluster, err := status.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, ui.Options{Repo: dir, Cluster: cluster})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var body string
	err = eventually.Poll(ctx, func(context.Context) (bool, error) {
		got := request(t, "GET", base+"/")
		body = got.body
		return got.code == http.StatusOK && strings.Contains(cell(t, body, "iris-classifier", "staging"), `data-sync="in-sync"`), nil
	})
	if err != nil {
		t.Fatalf("staging never in sync:\n%s", body)
	}
	staging := cell(t, body, "iris-classifier", "staging")
	if strings.Contains(staging, "drift") || !strings.Contains(staging, `<div class="sync in-sync" data-sync="in-sync">in-sync</div>`) {
		t.Errorf("staging runs Git's version, ready: no drift:\n%s", staging)
	}
	prod := cell(t, body, "iris-classifier", "prod")
	for _, w := range []string{`class="cell state-registered drift"`, `<div class="sync drift" data-sync="out-of-sync">out-of-sync</div>`, "1.0.0 "} {
		if !strings.Contains(prod, w) {
			t.Errorf("prod runs 1.0.0 while Git says 1.1.0: the cell lacks %q:\n%s", w, prod)
		}
	}
	gpu := cell(t, body, "vision-gpu", "staging")
	if !strings.Contains(gpu, `data-sync="missing"`) || !strings.Contains(gpu, "drift") {
		t.Errorf("nothing of vision-gpu runs: missing, and drift:\n%s", gpu)
	}
	page := request(t, "GET", base+"/models/iris-classifier").body
	if !strings.Contains(page, `<th scope="col">cluster</th>`) || !strings.Contains(page, `data-sync="out-of-sync"`) {
		t.Errorf("the model page's environments show the cluster too:\n%s", page)
	}
}
