package supervisor

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/testenv"
)

// uiGitUser is the user marina ui reads the repository as, through the read-only Git endpoint the sandbox gives it.
const uiGitUser = "marina-ui"

// ui runs marina ui in the cluster as a user installs it: config/ui's objects (from config/default with the
// config/ui component, as a user's overlay builds them) with marina's image from the registry, its Pod on the real
// node, reading the cluster as its ServiceAccount bound to config/ui's read-only ClusterRole, and the repository
// through a Git endpoint of its own: read-only, with a password, on the registry's host address (Pods on the real
// node reach it; the Git server Flux and the clone use stays on loopback), the credentials in the marina-git Secret
// the Deployment mounts. Every request needs the token in the marina-ui-token Secret. The supervisor relays a
// loopback port to the Service; state.json's ui is that URL with the token.
func (s *box) ui() {
	tb := s.tb
	host, _, err := net.SplitHostPort(s.reg.Host)
	if err != nil {
		tb.Fatal(err)
	}
	password := rand.Text()
	git := repotest.ServeGitAt(tb, net.JoinHostPort(host, "0"), filepath.Join(s.o.Dir, "git"),
		repotest.GitAuth{Username: uiGitUser, Password: password, ReadOnly: true})
	token := rand.Text()
	ns := testenv.ControllerNamespace
	for name, data := range map[string]map[string]string{
		"marina-ui-token": {"token": token},
		"marina-git":      {"username": uiGitUser, "password": password},
	} {
		if err := s.c.Client.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data}); err != nil {
			tb.Fatalf("Secret %s/%s: %v", ns, name, err)
		}
	}
	var objs []*unstructured.Unstructured
	for _, o := range testenv.Kustomize(tb, testenv.UIOverlay(tb)) {
		if o.GetName() != testenv.UIAccount || !slices.Contains([]string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service"}, o.GetKind()) {
			continue
		}
		if o.GetKind() == "Deployment" {
			pointUI(tb, o, s.pull, git.RepoURL(repoName))
		}
		objs = append(objs, o)
	}
	if len(objs) != 5 {
		tb.Fatalf("config/ui built %d of marina ui's 5 objects", len(objs))
	}
	s.c.Create(tb, objs...)

	key := client.ObjectKey{Namespace: ns, Name: testenv.UIAccount}
	testenv.WaitUntil(tb, "marina ui's Pod Ready on the real node", 3*time.Minute, func(ctx context.Context) (bool, string) {
		var d appsv1.Deployment
		if err := s.c.Client.Get(ctx, key, &d); err != nil {
			return false, err.Error()
		}
		var pods corev1.PodList
		if err := s.c.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(d.Spec.Selector.MatchLabels)); err != nil {
			return false, err.Error()
		}
		for _, p := range pods.Items {
			if p.Spec.NodeName != realNodeName {
				return false, "Pod " + p.Name + " is on node " + p.Spec.NodeName + ", not the real node"
			}
		}
		return d.Status.ReadyReplicas == 1, "Deployment marina-ui: " + podStates(pods.Items)
	})
	s.state.UI = "http://" + relay(tb, s.c.Client, key) + "/?token=" + token
}

// pointUI sets the marina ui Deployment's image to marina's (by digest, from the registry), its --git to url (what
// a user's overlay patches) and its --git-interval to 10s.
func pointUI(tb *runner, d *unstructured.Unstructured, image, url string) {
	var dep appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Object, &dep); err != nil {
		tb.Fatal(err)
	}
	c := &dep.Spec.Template.Spec.Containers[0]
	c.Image = image
	i := slices.Index(c.Args, "--git=")
	if i < 0 {
		tb.Fatalf("config/ui's marina ui has no empty --git= argument to set: %q", c.Args)
	}
	c.Args[i] = "--git=" + url
	// Pull every 10 s, as Flux polls in the sandbox: a push shows within seconds, not a minute.
	i = slices.IndexFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--git-interval=") })
	if i < 0 {
		tb.Fatalf("config/ui's marina ui has no --git-interval argument to set: %q", c.Args)
	}
	c.Args[i] = "--git-interval=10s"
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&dep)
	if err != nil {
		tb.Fatal(err)
	}
	d.Object = m
}

// podStates says where each Pod is: its phase, and why a container waits or was last terminated.
func podStates(pods []corev1.Pod) string {
	if len(pods) == 0 {
		return "no Pod yet"
	}
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "Pod %s %s;", p.Name, p.Status.Phase)
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil {
				fmt.Fprintf(&b, " %s waits: %s %s;", c.Name, w.Reason, w.Message)
			}
			if t := c.LastTerminationState.Terminated; t != nil {
				fmt.Fprintf(&b, " %s exited %d: %s %s;", c.Name, t.ExitCode, t.Reason, t.Message)
			}
		}
	}
	return strings.TrimSuffix(b.String(), ";")
}
