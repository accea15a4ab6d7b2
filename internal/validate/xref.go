package validate

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/analysis"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo"
)

// crossTasks are the checks that relate files to each other; they run after every file was read.
func (v *validation) crossTasks() []task {
	v.registeredVersions = versionsByModel(v.versions)
	var tasks []task
	dirs := make([]string, 0, len(v.apps))
	for d := range v.apps {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	for _, d := range dirs {
		a := v.apps[d]
		if a.spec == nil {
			continue
		}
		tasks = append(tasks, func() result {
			out := v.checkApplicationRefs(a)
			// A broken reference, or a strategy render refuses, makes render fail for a reason the finding already names.
			broken := slices.ContainsFunc(out, func(f Finding) bool {
				return strings.HasPrefix(f.Rule, "xref-") || f.Rule == "artifact-digest" || f.Rule == "strategy-backend"
			})
			return result{findings: append(out, v.checkRendered(a, broken)...), apply: func() {
				if broken {
					v.broken = true
				}
			}}
		})
	}
	if v.project == nil {
		return tasks
	}
	for _, e := range v.project.Spec.Environments {
		if v.opts.Env != "" && e.Name != v.opts.Env {
			continue
		}
		tasks = append(tasks, func() result { return result{findings: v.checkEnvironment(e)} })
	}
	tasks = append(tasks, func() result { return result{findings: v.checkGatesPresent()} })
	tasks = append(tasks, func() result { return result{findings: v.checkRepoURL()} })
	tasks = append(tasks, func() result { return result{findings: v.checkSigningKeys()} })
	return tasks
}

// envs lists the environments of an application that this run checks, sorted.
func (v *validation) envs(a *application) []string {
	var out []string
	for name := range a.spec.Spec.Environments {
		if v.opts.Env == "" || name == v.opts.Env {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// line is the line of the field at the JSON pointer made of keys in model.yaml, or of its nearest parent.
func (a *application) line(keys ...string) int {
	ptr := ""
	for _, k := range keys {
		ptr += "/" + escapePointer(k)
	}
	return lineAt(a.lines, ptr)
}

func (v *validation) checkApplicationRefs(a *application) []Finding {
	var out []Finding
	spec := a.spec.Spec
	m := spec.Model
	versions := v.registered(m)
	if len(versions) == 0 {
		out = append(out, finding("xref-model", a.file, "spec.model", a.line("spec", "model"),
			fmt.Sprintf("register a version with `marina model register %s --file MODEL --version 1.0.0`, or fix spec.model", m),
			"model %q has no registered versions (no %s/%s/v*.json)", m, model.Dir, m))
	}
	if spec.Config != "" {
		if p, ok := besideApp(a, spec.Config); !ok {
			out = append(out, finding("xref-config", a.file, "spec.config", a.line("spec", "config"), "name a file inside "+a.dir+"/", "config %q leaves the application's directory", spec.Config))
		} else if !v.r.Exists(p) {
			out = append(out, finding("xref-config", a.file, "spec.config", a.line("spec", "config"), "add "+p+" or fix spec.config", "config file %s does not exist", p))
		}
	}
	for i, s := range spec.Secrets {
		if s.SealedSecret == nil {
			continue
		}
		field := fmt.Sprintf("spec.secrets[%d].sealedSecret.file", i)
		line := a.line("spec", "secrets", fmt.Sprint(i), "sealedSecret", "file")
		if p, ok := besideApp(a, s.SealedSecret.File); !ok {
			out = append(out, finding("xref-secret", a.file, field, line, "name a file inside "+a.dir+"/", "sealed secret file %q leaves the application's directory", s.SealedSecret.File))
		} else if !v.r.Exists(p) {
			out = append(out, finding("xref-secret", a.file, field, line, "seal the secret with kubeseal into "+p+", or fix the name", "sealed secret file %s does not exist", p))
		}
	}
	for _, env := range v.envs(a) {
		es := spec.Environments[env]
		field := "spec.environments." + env
		if v.project != nil {
			if _, ok := v.project.Environment(env); !ok {
				out = append(out, finding("xref-environment", a.file, field, a.line("spec", "environments", env),
					"add it to marina.yaml spec.environments or fix the name ("+strings.Join(v.project.EnvironmentNames(), ", ")+")",
					"environment %q is not defined in marina.yaml", env))
				continue
			}
		}
		out = append(out, v.checkStrategy(a, env)...)
		out = append(out, checkAnalysisSteps(a, env)...)
		vf := v.versions[model.File(m, es.Version)]
		vline := a.line("spec", "environments", env, "version")
		switch {
		case len(versions) == 0:
			// reported once as xref-model
		case vf == nil:
			out = append(out, finding("xref-version", a.file, field+".version", vline,
				fmt.Sprintf("register it with `marina model register %s --file MODEL --version %s`, or deploy one of %s", m, es.Version, strings.Join(versions, ", ")),
				"%s@%s is not registered (no %s)", m, es.Version, model.File(m, es.Version)))
		case vf.v == nil:
			out = append(out, finding("artifact-digest", a.file, field+".version", vline, "fix or re-register "+vf.file,
				"%s@%s: %s does not match its schema, so its artifact digest cannot be trusted", m, es.Version, vf.file))
		case vf.v.State == model.StateBlocked:
			reason := ""
			if vf.v.StateReason != "" {
				reason = " (" + vf.v.StateReason + ")"
			}
			out = append(out, finding("version-blocked", a.file, field+".version", vline,
				fmt.Sprintf("marina promote %s@VERSION --env %s, or marina rollback %s --env %s", m, env, m, env),
				"%s@%s is blocked%s", m, es.Version, reason))
		case vf.v.State == model.StateArchived:
			out = append(out, finding("version-archived", a.file, field+".version", vline,
				fmt.Sprintf("marina promote %s@VERSION --env %s with a current version", m, env),
				"%s@%s is archived", m, es.Version))
		}
		if vf != nil && vf.v != nil {
			out = append(out, checkFetchable(a, env, vf.v)...)
			out = append(out, v.checkPolicy(a, env, vf.v)...)
			out = append(out, v.checkGates(a, env, vf.v)...)
		} else {
			out = append(out, v.checkPolicy(a, env, nil)...)
		}
	}
	return out
}

// registered lists the registered versions of a model (by file name), sorted.
func (v *validation) registered(m string) []string {
	return v.registeredVersions[m]
}

// versionsByModel indexes the version files read by model: each application looking through every version file
// made the cross-file checks quadratic in the number of models.
func versionsByModel(versions map[string]*versionFile) map[string][]string {
	out := map[string][]string{}
	for f := range versions {
		rest, _ := strings.CutPrefix(f, model.Dir+"/")
		m, name, _ := strings.Cut(rest, "/")
		if version, ok := strings.CutPrefix(name, "v"); ok && !strings.Contains(version, "/") {
			out[m] = append(out[m], strings.TrimSuffix(version, ".json"))
		}
	}
	for _, vs := range out {
		slices.Sort(vs)
	}
	return out
}

// besideApp resolves a file named in model.yaml relative to its directory, refusing paths that leave it.
func besideApp(a *application, name string) (string, bool) {
	p := path.Join(a.dir, name)
	if repo.CheckPath(p) != nil || !strings.HasPrefix(p, a.dir+"/") {
		return "", false
	}
	return p, true
}

// checkEnvironment checks that an environment of marina.yaml is wired into the infrastructure and the GitOps
// engines, and that its GPU models fit its quota.
func (v *validation) checkEnvironment(e project.Environment) []Finding {
	var out []Finding
	line := v.envLine(e.Name)
	field := "spec.environments[" + fmt.Sprint(v.envIndex(e.Name)) + "]"
	overlay := "infrastructure/overlays/" + e.Name
	if !v.r.Exists(overlay) {
		out = append(out, finding("env-overlay", project.ProjectFile, field, line,
			"copy another overlay to "+overlay+"/ and set its namespace to "+e.Namespace,
			"environment %q has no %s/", e.Name, overlay))
	}
	for _, engine := range v.project.Spec.Engines {
		switch engine {
		case "argocd":
			switch {
			case !v.r.Exists("gitops/argocd"):
				out = append(out, finding("env-argocd", project.ProjectFile, "spec.engines", v.projectLine("/spec/engines"),
					"run `marina init --engine argocd` in a scratch directory and copy gitops/argocd/, or remove argocd from spec.engines",
					"spec.engines lists argocd but gitops/argocd/ does not exist"))
			case !v.argocdMentions(e.Name):
				out = append(out, finding("env-argocd", project.ProjectFile, field, line,
					"add `- path: applications/*/"+e.Name+"` to the git generator of the ApplicationSet in gitops/argocd/apps/",
					"no file under gitops/argocd/ mentions environment %q", e.Name))
			}
		case "flux":
			f := "gitops/flux/apps/" + e.Name + "/kustomization.yaml"
			if !v.r.Exists(f) {
				out = append(out, finding("env-flux", project.ProjectFile, field, line,
					"copy another environment's gitops/flux/apps/<env>/kustomization.yaml to "+f,
					"environment %q has no %s", e.Name, f))
			}
		}
	}
	out = append(out, v.checkQuota(e)...)
	return out
}

// argocdMentions reports whether the Argo CD files cover an environment: by a wildcard over environment
// directories or by naming it as a word.
func (v *validation) argocdMentions(env string) bool {
	word := regexp.MustCompile(`(^|[^A-Za-z0-9_-])` + regexp.QuoteMeta(env) + `([^A-Za-z0-9_-]|$)`)
	for _, text := range v.argocd {
		if strings.Contains(text, "applications/*/*") || word.MatchString(text) {
			return true
		}
	}
	return false
}

func (v *validation) envIndex(name string) int {
	for i, e := range v.project.Spec.Environments {
		if e.Name == name {
			return i
		}
	}
	return -1
}

func (v *validation) envLine(name string) int {
	return v.projectLine(fmt.Sprintf("/spec/environments/%d", v.envIndex(name)))
}

func (v *validation) projectLine(ptr string) int {
	if v.projectDoc == nil {
		return 0
	}
	return lineAt(v.projectDoc, ptr)
}

// checkStrategy reports a strategy the application's backend cannot carry out in env (render refuses it too).
func (v *validation) checkStrategy(a *application, env string) []Finding {
	_, field, msg := a.spec.Spec.UnsupportedStrategy(env)
	if msg == "" {
		return nil
	}
	keys := strings.Split(field, ".")
	return []Finding{finding("strategy-backend", a.file, field, a.line(keys...), project.UnsupportedStrategyHint, "%s", msg)}
}

// checkAnalysisSteps reports the analysis steps of env's strategy (a canary's, or a shadow's steps) that name a
// template the ModelDeployment render writes for env will not have: the controller would abort at that step.
func checkAnalysisSteps(a *application, env string) []Finding {
	spec := a.spec.Spec
	e, ok := spec.Resolve(env)
	if !ok || spec.BackendName() != project.BackendMarina || e.Strategy == nil {
		return nil // another backend runs no steps (strategy-backend says so)
	}
	kind, steps := "canary", []v1alpha1.CanaryStep(nil)
	switch {
	case e.Strategy.Canary != nil:
		steps = e.Strategy.Canary.Steps
	case e.Strategy.Shadow != nil:
		kind, steps = "shadow", e.Strategy.Shadow.Steps
	}
	var builtin []analysis.BuiltinMetric
	if e.Analysis != nil {
		builtin = e.Analysis.Builtin
	}
	templates, err := analysis.BuiltinTemplates("", builtin, analysis.BuiltinOptions{})
	if err != nil {
		return nil // a built-in analysis render refuses: the schema finding names it
	}
	var have []string
	for _, t := range templates {
		have = append(have, t.Name)
	}
	keys := []string{"spec", "strategy"}
	if spec.Environments[env].Strategy != nil {
		keys = []string{"spec", "environments", env, "strategy"}
	}
	hint := "turn it on in analysis.builtin (e.g. {name: error-rate, max: 0.01}), or fix the step"
	if len(have) > 0 {
		hint += " (templates in " + env + ": " + strings.Join(have, ", ") + ")"
	}
	var out []Finding
	for i, st := range steps {
		if st.Analysis == nil || slices.Contains(have, st.Analysis.Template) {
			continue
		}
		at := append(slices.Clone(keys), kind, "steps", fmt.Sprint(i), "analysis", "template")
		field := fmt.Sprintf("%s.%s.steps[%d].analysis.template", strings.Join(keys, "."), kind, i)
		out = append(out, finding("strategy-analysis-template", a.file, field, a.line(at...), hint,
			"step %d of the %s runs analysis template %q, which the ModelDeployment rendered for %s does not have",
			i, kind, st.Analysis.Template, env))
	}
	return out
}

// checkFetchable flags a deployed version whose artifact only the repository holds: the rendered server cannot
// fetch it.
func checkFetchable(a *application, env string, mv *model.Version) []Finding {
	loc, err := mv.Artifact.Locate()
	if err != nil || loc.Path == "" {
		return nil // a remote URI, or one artifact-location reports
	}
	return []Finding{finding("artifact-in-repository", a.file, "spec.environments."+env+".version", a.line("spec", "environments", env, "version"),
		fmt.Sprintf("marina model push %s@%s", mv.Name, mv.Version),
		"%s@%s is deployed to %q from %s, a file in this repository that the cluster cannot fetch", mv.Name, mv.Version, env, loc.Path)}
}
