package scaffold_test

import (
	"path"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestEveryKustomizationBuilds runs kustomize (the library kubectl and Flux embed) on every
// kustomization.yaml the scaffold writes, as Argo CD and Flux will.
func TestEveryKustomizationBuilds(t *testing.T) {
	t.Parallel()
	for _, c := range combinations() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fs := filesys.MakeFsInMemory()
			var dirs []string
			for _, f := range mustFiles(t, c.opts) {
				if err := fs.WriteFile("/repo/"+f.Path, f.Data); err != nil {
					t.Fatal(err)
				}
				if path.Base(f.Path) == "kustomization.yaml" {
					dirs = append(dirs, "/repo/"+path.Dir(f.Path))
				}
			}
			if len(dirs) == 0 {
				t.Fatal("no kustomization.yaml written")
			}
			k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
			for _, d := range dirs {
				m, err := k.Run(fs, d)
				if err != nil {
					t.Errorf("kustomize build %s: %v", strings.TrimPrefix(d, "/repo/"), err)
					continue
				}
				if strings.HasPrefix(d, "/repo/infrastructure/overlays/") {
					env := path.Base(d)
					for _, r := range m.Resources() {
						if ns := r.GetNamespace(); r.GetKind() != "Namespace" && ns != "models-"+env {
							t.Errorf("%s: %s %s lands in namespace %q, want models-%s", d, r.GetKind(), r.GetName(), ns, env)
						}
					}
				}
			}
		})
	}
}
