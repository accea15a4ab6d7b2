package validate

import (
	"slices"
	"strings"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/release"
)

// CheckPromotion judges a prospect with the rules validate applies to it once committed: the strategy (its backend
// must carry it out, its analysis steps must name templates that are on), the environment's policies of marina.yaml and the quality gates on the promoted version. It is
// promote's release.Promotion.Check, so promote never commits a state validate rejects; it reports errors only.
func CheckPromotion(p release.Prospect) []release.Problem {
	var out []release.Problem
	for _, f := range promotion(p) {
		out = append(out, release.Problem{Rule: f.Rule, Text: strings.TrimSuffix(findingLine(f), "\n")})
	}
	return out
}

func promotion(p release.Prospect) []Finding {
	doc, findings := parse(p.AppFile, p.AppData)
	if doc == nil {
		return errorsOnly(findings)
	}
	spec, err := project.DecodeApplication(doc)
	if err != nil {
		return errorsOnly(problemFindings(err, p.AppFile, "schema", doc))
	}
	a := &application{file: p.AppFile, lines: doc.Lines(), spec: spec}
	v := &validation{project: p.Project, versions: map[string]*versionFile{}}
	var promoted *model.Version
	envs := p.Project.EnvironmentNames()
	// The promoted environment, and the last one (gates measure regressions against its version): one read when
	// they are the same.
	for _, env := range slices.Compact([]string{p.Env, envs[len(envs)-1]}) {
		es, ok := spec.Spec.Environments[env]
		if !ok {
			continue
		}
		mv, err := p.Lookup(spec.Spec.Model, es.Version)
		if err != nil {
			continue // the reference is unreadable: gates measure no regression, as validate does
		}
		v.versions[model.File(mv.Name, mv.Version)] = &versionFile{file: model.File(mv.Name, mv.Version), v: mv}
		if env == p.Env {
			promoted = mv
		}
	}
	findings = append(findings, v.checkStrategy(a, p.Env)...)
	findings = append(findings, checkAnalysisSteps(a, p.Env)...)
	findings = append(findings, v.checkPolicy(a, p.Env, promoted)...)
	if promoted != nil {
		findings = append(findings, v.checkGates(a, p.Env, promoted)...)
	}
	return errorsOnly(sortFindings(findings))
}

func errorsOnly(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Severity == SeverityError {
			out = append(out, f)
		}
	}
	return out
}
