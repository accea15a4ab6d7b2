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
	return rd.stale
}

// rendering is what rendering one application found: the files render would write differently, or why it could
// not render.
type rendering struct {
	stale []Finding
	err   error
}

// renderTasks render every application whose model.yaml parsed, with the version metadata already read, and check
// the manifests committed in its rendered directories with what render made: one task an application. They return
// the manifests left for tasks of their own.
func (v *validation) renderTasks(manifests []file) ([]task, []file) {
	if v.project == nil {
		return nil, manifests
	}
	byDir := map[string][]file{}
	for _, f := range manifests {
		byDir[path.Dir(f.path)] = append(byDir[path.Dir(f.path)], f)
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
		var mine []file
		for _, env := range envs {
			d := render.Dir(a.spec.Spec.Model, env)
			mine = append(mine, byDir[d]...)
			delete(byDir, d) // two applications of one model: the first checks the files, both compare them
		}
		tasks = append(tasks, func() result {
			outs, err := render.ApplicationWithVersions(v.r, v.project, a.spec, envs, lookup)
			rendered := map[string]*render.File{}
			for _, o := range outs {
				for i := range o.Files {
					rendered[o.Files[i].Path] = &o.Files[i]
				}
			}
			var res result
			var applies []func()
			committed := map[string][]byte{}
			for _, f := range mine {
				data, findings := v.read(f)
				if data == nil {
					res.findings = append(res.findings, findings...)
					continue
				}
				committed[f.path] = data
				r := v.checkManifests(f.path, data, rendered[f.path])
				res.findings = append(res.findings, r.findings...)
				if r.apply != nil {
					applies = append(applies, r.apply)
				}
			}
			var stale []Finding
			if err == nil {
				stale = v.compareOutputs(outs, committed)
			}
			res.apply = func() {
				v.rendered[a.dir] = &rendering{stale: stale, err: err}
				for _, apply := range applies {
					apply()
				}
			}
			return res
		})
	}
	var rest []file
	for _, f := range manifests {
		if _, ok := byDir[path.Dir(f.path)]; ok {
			rest = append(rest, f)
		}
	}
	return tasks, rest
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
	return v.compareOutputs([]render.Output{{Env: env, Dir: dir, Files: []render.File{render.FluxIndexFile(env, models)}}}, nil)
}

// compareOutputs reports every rendered file that is missing or different, and every file in a rendered
// directory that render does not write. committed holds files already read, by path; the others are read.
func (v *validation) compareOutputs(outs []render.Output, committed map[string][]byte) []Finding {
	var out []Finding
	for _, o := range outs {
		if !v.r.Exists(o.Dir) {
			out = append(out, finding("stale-render", o.Dir, "", 0, staleHint, "is missing: render writes %d files there for %s", len(o.Files), what(o)))
			continue
		}
		want := map[string]bool{}
		for _, f := range o.Files {
			want[path.Base(f.Path)] = true
			cur, ok := committed[f.Path]
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
