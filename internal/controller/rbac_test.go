package controller_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
	"github.com/marina-dev/marina/internal/writeback"
)

// controllerAccount is the controller's ServiceAccount in both installs.
const controllerAccount = "marina-controller"

// TestWriteBackWithASecretRefCompletesAsTheShippedServiceAccount runs the controller with a real token of its
// ServiceAccount, bound by nothing but the shipped RBAC, with leader election as config/default runs it: a rollout
// aborts at its progress deadline and the revert is pushed with the credentials of spec.gitWriteBack.secretRef.
// A permission the controller uses but the role lacks (or a cached read of Secrets, which would list and watch
// them) leaves the rollout stuck and fails the test.
func TestWriteBackWithASecretRefCompletesAsTheShippedServiceAccount(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true, Workloads: true})
	c.AddNode(t, testenv.Node{Name: "cpu-rbac"})
	for i, install := range testenv.Installs {
		// Not parallel: both installs create the same cluster-wide ClusterRole and binding.
		t.Run(install.Name, func(t *testing.T) {
			c.InstallRBAC(t, install)
			sa := c.ServiceAccount(t, testenv.ControllerNamespace, controllerAccount)
			as, err := client.New(sa.Config, client.Options{Scheme: testenv.Scheme()})
			if err != nil {
				t.Fatal(err)
			}
			if err := as.List(context.Background(), &corev1.SecretList{}); !apierrors.IsForbidden(err) {
				t.Fatalf("the ServiceAccount's token may list Secrets (err %v): it is not bound by the shipped role only", err)
			}

			ns := namespace(t, c, fmt.Sprintf("rbac-%d", i))
			bare := newRemote(t)
			before := git(t, bare, "rev-parse", "HEAD")
			url := repotest.ServeGit(t, filepath.Dir(bare), repotest.GitAuth{Username: gitUser, Password: gitToken}).RepoURL(bare)
			if err := c.Client.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git", Namespace: ns},
				StringData: map[string]string{"username": gitUser, "password": gitToken}}); err != nil {
				t.Fatal(err)
			}
			startManager(t, sa.Config, ctrl.Options{LeaderElection: true, LeaderElectionNamespace: testenv.ControllerNamespace,
				LeaderElectionID: "marina-controller.marina.dev", LeaderElectionReleaseOnCancel: true},
				func(r *controller.Reconciler) {
					r.Writer = &writeback.Writer{WorkDir: t.TempDir(), Author: "marina-rbac <rbac@marina.test>"}
				})

			md := e2eDeployment(ns, "1.0.0", "", nil, v1alpha1.CanaryStep{SetWeight: new(int32(50))})
			md.Spec.GitWriteBack = &v1alpha1.GitWriteBack{Repo: url, Mode: v1alpha1.GitWriteBackCommit, SecretRef: &corev1.LocalObjectReference{Name: "git"}}
			create(t, c, md)
			waitOn(t, c, ns, "1.0.0 Ready", time.Minute, ready)
			// Pods that never schedule: the progress deadline aborts the rollout, and the revert goes to Git.
			updateIn(t, c, ns, func(md *v1alpha1.ModelDeployment) {
				md.Spec.Version = "1.1.0"
				md.Spec.Runtime.NodeSelector = map[string]string{"pool": "nowhere"}
				md.Spec.ProgressDeadlineSeconds = new(int32(3))
			})
			got := waitOn(t, c, ns, "the revert written to Git", time.Minute, func(md *v1alpha1.ModelDeployment) bool {
				return meta.IsStatusConditionTrue(md.Status.Conditions, controller.WriteBackCondition)
			})
			wb := meta.FindStatusCondition(got.Status.Conditions, controller.WriteBackCondition)
			after := git(t, bare, "rev-parse", "HEAD")
			if wb.Reason != "Written" || after == before || !strings.Contains(wb.Message, after[:7]) {
				t.Fatalf("GitWriteBack %+v; the remote went from %s to %s", wb, before, after)
			}
			if v, bad := readRemote(t, bare, "HEAD"); v != "1.0.0" || bad.State != model.StateBlocked {
				t.Fatalf("in Git: %s runs %s, 1.1.0 is %q; want 1.0.0 and blocked", e2eEnv, v, bad.State)
			}
			// Leader election announces itself with a core/v1 Event (controller-runtime's leader election records
			// through client-go's old recorder): the role must let it, or the announcement is refused and logged.
			waitLeaderEvent(t, c, i)
		})
	}
}

// waitLeaderEvent waits for the n+1-th core/v1 Event of the controller's leader election in its namespace.
func waitLeaderEvent(t *testing.T, c *testenv.Cluster, n int) {
	t.Helper()
	var seen []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := eventually.Poll(ctx, func(ctx context.Context) (bool, error) {
		var evs corev1.EventList
		if err := c.Client.List(ctx, &evs, client.InNamespace(testenv.ControllerNamespace)); err != nil {
			return false, err
		}
		seen = seen[:0]
		for _, e := range evs.Items {
			if e.Reason == "LeaderElection" && e.InvolvedObject.Kind == "Lease" {
				seen = append(seen, e.Message)
			}
		}
		return len(seen) > n, nil
	})
	if err == nil {
		return
	}
	t.Fatalf("leader election Events in %s: %q, want %d: the shipped role does not let the controller announce it leads (%v)", testenv.ControllerNamespace, seen, n+1, err)
}
