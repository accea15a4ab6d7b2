package doctor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/marina-dev/marina/internal/doctor"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestDoctorReadsEverythingItChecksWithTheShippedDoctorRole runs every check, with Argo CD, Flux, a GPU model and
// the marina backend in play, as a ServiceAccount with a real token bound to nothing but the ClusterRole
// marina-doctor that config/rbac and the Helm chart ship: no check may be left undecided by a forbidden read.
func TestDoctorReadsEverythingItChecksWithTheShippedDoctorRole(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	for _, ns := range []string{project.ArgoCDNamespace, project.FluxNamespace, doctor.ControllerNamespace, "rbac-staging"} {
		createNamespace(t, c.Client, ns)
	}
	for i, install := range testenv.Installs {
		// Not parallel: both installs create the same ClusterRole.
		t.Run(install.Name, func(t *testing.T) {
			ctx := context.Background()
			c.InstallRBAC(t, install)
			account := fmt.Sprintf("doctor-%d", i)
			binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: account},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "marina-doctor"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: account, Namespace: "default"}}}
			if err := c.Client.Create(ctx, binding); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := c.Client.Delete(ctx, binding); err != nil {
					t.Error(err)
				}
			})
			sa := c.ServiceAccount(t, "default", account)
			as, err := client.New(sa.Config, client.Options{Scheme: testenv.Scheme()})
			if err != nil {
				t.Fatal(err)
			}
			d, err := discovery.NewDiscoveryClientForConfig(sa.Config)
			if err != nil {
				t.Fatal(err)
			}
			gpu := exampleApp(t, "vision-gpu")
			iris := exampleApp(t, "iris-classifier")
			iris.Spec.Backend = project.BackendMarina
			in := doctor.Input{Client: as, Discovery: d, Server: sa.Config.Host, Apps: []*project.ModelApplication{gpu, iris},
				Project: newProject("https://git.example.com/rbac.git", []string{"argocd", "flux"}, "staging", "rbac-staging")}
			checks := doctor.Run(ctx, in)
			if len(checks) < 11 {
				t.Fatalf("want every check:\n%s", dump(checks))
			}
			for _, ch := range checks {
				if strings.Contains(strings.ToLower(ch.Evidence), "forbidden") {
					t.Errorf("%s %s could not read what it checks as marina-doctor: %s", ch.Name, ch.Target, ch.Evidence)
				}
			}
		})
	}
}
