package validate_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/dryrun"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/kubeschema/kubeschematest"
	"github.com/marina-dev/marina/internal/testenv"
)

// TestCorpusVerdictsAreTheServers checks verdicts.txt against a real kube-apiserver: each corpus object is
// server-side applied in dry-run mode with the CRDs the built-in schemas come from (and Gateway API's experimental
// TLSRoute), and the server must accept or reject it as the file says. So the corpus's expected verdicts, which
// TestOfflineVerdictsAgreeWithTheServer holds marina validate to, are the server's, not marina's.
func TestCorpusVerdictsAreTheServers(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: true})
	installCRD(t, c, filepath.Join(kubeschematest.GatewayAPIExperimental(t), "gateway.networking.k8s.io_tlsroutes.yaml"))
	ctx := context.Background()
	for _, v := range corpusVerdicts(t) {
		t.Run(strings.ReplaceAll(v.file, "/", "_")+"#"+strconv.Itoa(v.doc), func(t *testing.T) {
			u, err := dryrun.Unstructured(v.obj)
			if err != nil {
				t.Fatal(err)
			}
			problems, err := dryrun.Check(ctx, c.Config, []dryrun.Object{{File: v.file, Object: u}}, dryrun.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rejected := false
			for _, p := range problems {
				if p.Skipped {
					t.Fatalf("not checked: %+v", p)
				}
				rejected = true
				t.Logf("server: %s %s", p.Field, p.Message)
			}
			if rejected != v.reject {
				t.Fatalf("the API server rejected=%t, verdicts.txt says rejected=%t: %+v", rejected, v.reject, problems)
			}
		})
	}
}

// installCRD creates the CustomResourceDefinition in file and waits until the server serves it.
func installCRD(t *testing.T, c *testenv.Cluster, file string) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Client.Create(ctx, &crd); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, time.Minute, "CRD "+crd.Name+" established", func() bool {
		var got apiextensionsv1.CustomResourceDefinition
		if err := c.Client.Get(ctx, types.NamespacedName{Name: crd.Name}, &got); err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(got.Status.Conditions, func(c apiextensionsv1.CustomResourceDefinitionCondition) bool {
			return c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
		})
	})
}
