package kubeschema

import (
	"fmt"
	"io/fs"
	"path"

	"github.com/marina-dev/marina/config/crd"
)

// ownCRDsDir is where marina's own CRDs live in the source tree, named in error messages.
const ownCRDsDir = "config/crd"

// addOwnCRDs adds marina's own CRDs (ModelDeployment), embedded from config/crd, as builtin schemas: a CRD passed
// with --crds, e.g. from a newer controller, replaces them.
func (v *Validator) addOwnCRDs() error {
	files, err := fs.Glob(crd.FS(), "bases/*.yaml")
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("%s: no CRD embedded: run hack/gen-api.sh", ownCRDsDir)
	}
	for _, f := range files {
		data, err := fs.ReadFile(crd.FS(), f)
		if err != nil {
			return fmt.Errorf("%s: %w", path.Join(ownCRDsDir, f), err)
		}
		if err := v.loadData(path.Join(ownCRDsDir, f), data, true); err != nil {
			return err
		}
	}
	return nil
}
