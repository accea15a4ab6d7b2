package testenv

import (
	"context"
	"os"
	"path/filepath"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/marina-dev/marina/charts"
)

// ServiceAccount is a client identity the API server authenticates with a real ServiceAccount token.
type ServiceAccount struct {
	// Config authenticates as the ServiceAccount.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for Config, for commands run as the ServiceAccount.
	Kubeconfig string
}

// ServiceAccount creates the ServiceAccount namespace/name (unless it exists) and returns credentials for it: a
// token from the TokenRequest API, as the kubelet gives a Pod. Unlike Config (system:masters), requests with it
// are judged by RBAC, so a test running marina with it fails when a permission is missing.
func (c *Cluster) ServiceAccount(tb TB, namespace, name string) ServiceAccount {
	tb.Helper()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		tb.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatalf("creating ServiceAccount %s/%s: %v", namespace, name, err)
	}
	// A week: a sandbox's controller runs with this token for as long as the sandbox is up.
	week := int64(7 * 24 * 3600)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &week}}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("requesting a token for ServiceAccount %s/%s: %v", namespace, name, err)
	}
	cfg := rest.AnonymousClientConfig(c.Config)
	cfg.BearerToken = tr.Status.Token
	kc := clientcmdapi.NewConfig()
	kc.Clusters["testenv"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: name, Namespace: namespace}
	kc.CurrentContext = name
	dir := tb.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		tb.Fatal(err)
	}
	return ServiceAccount{Config: cfg, Kubeconfig: path}
}

// Create creates objs as the admin, e.g. the RBAC objects an install ships; a namespaced object's namespace is
// created first when it does not exist.
func (c *Cluster) Create(tb TB, objs ...*unstructured.Unstructured) {
	tb.Helper()
	ctx := context.Background()
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" {
			err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				tb.Fatal(err)
			}
		}
		if err := c.Client.Create(ctx, o.DeepCopy()); err != nil {
			tb.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// Kustomize builds the kustomization in dir (absolute, or relative to the repository root, e.g. config/rbac) as
// `kubectl apply -k`, Argo CD or Flux would and returns its objects — through JSON, as they send them (numbers
// become int64, which unstructured objects can copy).
func Kustomize(tb TB, dir string) []*unstructured.Unstructured {
	tb.Helper()
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(RepoRoot(tb), dir)
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		tb.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range res.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			tb.Fatalf("%s: %v", dir, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			tb.Fatalf("%s: %v", dir, err)
		}
		objs = append(objs, u)
	}
	return objs
}

// Install is one way marina ships its RBAC.
type Install struct {
	// Name says where the objects come from.
	Name string
	// RBAC returns the install's ServiceAccounts, ClusterRoles, Roles and their bindings, read from its files.
	RBAC func(tb TB) []*unstructured.Unstructured
}

// ControllerNamespace is where both installs put the controller's ServiceAccount (config/default's namespace,
// and the chart's release namespace in Installs).
const ControllerNamespace = "marina-system"

// Installs are the ways marina ships its RBAC, read from the files a user installs: config/rbac as
// `kubectl apply -k` builds it, and the Helm chart's RBAC objects as `helm template` renders them (release marina
// in ControllerNamespace). Both name the same cluster-wide objects: install one at a time (InstallRBAC).
var Installs = []Install{
	{Name: "config/rbac", RBAC: func(tb TB) []*unstructured.Unstructured { return Kustomize(tb, "config/rbac") }},
	{Name: "the Helm chart", RBAC: func(tb TB) []*unstructured.Unstructured {
		objs, err := charts.Render(filepath.Join(RepoRoot(tb), "charts", "marina"), "marina", ControllerNamespace)
		if err != nil {
			tb.Fatal(err)
		}
		var out []*unstructured.Unstructured
		for _, o := range objs {
			if slices.Contains([]string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}, o.Object.GetKind()) {
				out = append(out, o.Object)
			}
		}
		return out
	}},
}

// InstallRBAC creates the RBAC objects of install and deletes them when the test ends.
func (c *Cluster) InstallRBAC(tb TB, install Install) {
	tb.Helper()
	objs := install.RBAC(tb)
	c.Create(tb, objs...)
	tb.Cleanup(func() {
		for _, o := range objs {
			if err := c.Client.Delete(context.Background(), o.DeepCopy()); client.IgnoreNotFound(err) != nil {
				tb.Errorf("deleting %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	})
}

// UIAccount is marina ui's ServiceAccount in both installs, in ControllerNamespace.
const UIAccount = "marina-ui"

// UIOverlay writes a kustomization that installs config/default with the config/ui component, as a user's overlay
// does, and returns its directory.
func UIOverlay(tb TB) string {
	tb.Helper()
	dir := tb.TempDir()
	// Relative: kustomize refuses absolute paths.
	config, err := filepath.Rel(dir, filepath.Join(RepoRoot(tb), "config"))
	if err != nil {
		tb.Fatal(err)
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" +
		"resources: [" + filepath.Join(config, "default") + "]\n" +
		"components: [" + filepath.Join(config, "ui") + "]\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// UIValues turn the chart's marina ui on, as a user's values file does (a test-local repository URL).
var UIValues = map[string]any{"ui": map[string]any{
	"enabled": true,
	"git":     map[string]any{"url": "http://127.0.0.1:3000/ml/models.git", "credentialsSecret": "marina-git"},
}}

// UIInstalls are the ways marina ships marina ui's RBAC: config/ui on config/default (UIOverlay), and the Helm
// chart with UIValues. RBAC returns marina ui's ServiceAccount, ClusterRole and binding only.
var UIInstalls = []Install{
	{Name: "config/ui", RBAC: func(tb TB) []*unstructured.Unstructured { return uiRBAC(Kustomize(tb, UIOverlay(tb))) }},
	{Name: "the Helm chart", RBAC: func(tb TB) []*unstructured.Unstructured {
		objs, err := charts.Render(filepath.Join(RepoRoot(tb), "charts", "marina"), "marina", ControllerNamespace, UIValues)
		if err != nil {
			tb.Fatal(err)
		}
		var us []*unstructured.Unstructured
		for _, o := range objs {
			us = append(us, o.Object)
		}
		return uiRBAC(us)
	}},
}

// uiRBAC keeps the RBAC objects named UIAccount.
func uiRBAC(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetName() == UIAccount && slices.Contains([]string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding"}, o.GetKind()) {
			out = append(out, o)
		}
	}
	return out
}
