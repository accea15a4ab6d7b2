package validate

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"slices"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/schemas"
)

const staleHint = "run `marina render --write` and commit the result"

// checkRendered renders an application and compares the result with the committed applications/<model>/<env>/.
// It runs only for applications whose references are sound (hasErrors false): otherwise render fails for a reason
// another finding already names.
func (v *validation) checkRendered(a *application, hasErrors bool) []Finding {
	if v.project == nil || hasErrors {
		return nil
	}
	envs := v.envs(a)
	if len(envs) == 0 {
		return nil
	}
	rd := v.rendered[a.dir]
	if rd == nil {
		return nil
	}
	if rd.err != nil {
		return []Finding{finding("stale-render", a.file, "", 0, "fix model.yaml so that `marina render` succeeds", "cannot render: %v", rd.err)}
	}
	return v.compareOutputs(rd.outs)
}

// rendering is what render produced for one application.
type rendering struct {
	outs []render.Output
	err  error
}

// renderTasks render every application whose model.yaml parsed, with the version metadata already read.
func (v *validation) renderTasks() []task {
	if v.project == nil {
		return nil
	}
	lookup := func(name, version string) (*model.Version, error) {
		vf := v.versions[model.File(name, version)]
		if vf == nil || vf.v == nil {
			return nil, fmt.Errorf("%s@%s: %w", name, version, registry.ErrNotFound)
		}
		return vf.v, nil
	}
	var tasks []task
	for _, d := range slices.Sorted(maps.Keys(v.apps)) {
		a := v.apps[d]
		if a.spec == nil {
			continue
		}
		envs := v.envs(a)
		if len(envs) == 0 {
			continue
		}
		tasks = append(tasks, func() result {
			outs, err := render.ApplicationWithVersions(v.r, v.project, a.spec, envs, lookup)
			return result{apply: func() {
				v.rendered[a.dir] = &rendering{outs: outs, err: err}
				for _, o := range outs {
					for _, f := range o.Files {
						v.renderedFiles[f.Path] = f
					}
				}
			}}
		})
	}
	return tasks
}

// checkFluxIndex compares gitops/flux/apps/<env>/, which render maintains, with the applications deployed to env.
func (v *validation) checkFluxIndex(env string) []Finding {
	if v.project == nil || !slices.Contains(v.project.Spec.Engines, "flux") {
		return nil
	}
	var models []string
	for _, a := range v.apps {
		if a.spec == nil {
			return nil // an unreadable model.yaml: its own finding says so, and the index cannot be known
		}
		if _, ok := a.spec.Spec.Environments[env]; ok {
			models = append(models, a.spec.Spec.Model)
		}
	}
	dir := render.FluxIndexDir(env)
	if !v.r.Exists(dir) {
		return nil // env-flux reports it
	}
	return v.compareOutputs([]render.Output{{Env: env, Dir: dir, Files: []render.File{render.FluxIndexFile(env, models)}}})
}

// compareOutputs reports every rendered file that is missing or different, and every file in a rendered
// directory that render does not write.
func (v *validation) compareOutputs(outs []render.Output) []Finding {
	var out []Finding
	for _, o := range outs {
		if !v.r.Exists(o.Dir) {
			out = append(out, finding("stale-render", o.Dir, "", 0, staleHint, "is missing: render writes %d files there for %s", len(o.Files), what(o)))
			continue
		}
		want := map[string]bool{}
		for _, f := range o.Files {
			want[path.Base(f.Path)] = true
			cur, ok := v.committed[f.Path]
			if !ok {
				if !v.r.Exists(f.Path) {
					out = append(out, finding("stale-render", f.Path, "", 0, staleHint, "is missing: render writes it for %s", what(o)))
					continue
				}
				var err error
				if cur, err = v.r.ReadFile(f.Path, schemas.MaxManifestSize); err != nil {
					out = append(out, finding("file-unreadable", f.Path, "", 0, "", "%s", trimFile(err, f.Path)))
					continue
				}
			}
			if !bytes.Equal(cur, f.Data) {
				out = append(out, finding("stale-render", f.Path, "", firstDiffLine(cur, f.Data), staleHint,
					"differs from what model.yaml and models/ render to for %s", what(o)))
			}
		}
		entries, err := v.r.ReadDir(o.Dir)
		if err != nil {
			out = append(out, finding("file-unreadable", o.Dir, "", 0, "", "%s", trimFile(err, o.Dir)))
			continue
		}
		for _, e := range entries {
			if want[e.Name()] {
				continue
			}
			p := path.Join(o.Dir, e.Name())
			kind := "file"
			if e.IsDir() {
				kind = "directory"
			}
			out = append(out, finding("stale-render", p, "", 0, staleHint+" (it deletes files render no longer writes); keep hand-written manifests outside "+o.Dir+"/",
				"%s is not rendered output, but %s/ belongs to marina render", kind, o.Dir))
		}
	}
	return out
}

func what(o render.Output) string {
	if o.Model == "" {
		return "the Flux index of " + o.Env
	}
	return o.Model + " in " + o.Env
}

// firstDiffLine is the first line (1-based) where two files differ.
func firstDiffLine(a, b []byte) int {
	line := 1
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return line
		}
		if a[i] == '\n' {
			line++
		}
	}
	return line
}
