package validate

import (
	"errors"
	"strings"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/schemas"
)

// problemFindings turns a parse or decode error into one finding per problem: rule yaml when the file did not
// parse (doc is nil), else rule. doc fills in lines the error left out.
func problemFindings(err error, file, rule string, doc *schemas.Document) []Finding {
	var fe *schemas.FileError
	if !errors.As(err, &fe) {
		return []Finding{finding(rule, file, "", 0, "", "%v", trimFile(err, file))}
	}
	out := make([]Finding, 0, len(fe.Problems))
	for _, p := range fe.Problems {
		id := rule
		if doc == nil {
			id = "yaml"
		}
		line := p.Line
		if line == 0 && p.Path != "" && doc != nil {
			line = doc.LineOfPath(p.Path)
		}
		out = append(out, finding(id, fe.File, p.Path, line, schemaHint(id, file), "%s", p.Message))
	}
	return out
}

func schemaHint(rule, file string) string {
	if rule == "yaml" {
		return "fix the YAML at this line"
	}
	switch {
	case file == project.ProjectFile:
		return "the fields of marina.yaml: " + schemas.DocsURL(schemas.Project)
	case strings.HasSuffix(file, "/"+project.ApplicationFile):
		return "the fields of model.yaml: " + schemas.DocsURL(schemas.Application)
	case strings.HasPrefix(file, model.Dir+"/"):
		return "registry files are written by `marina model register`; register the version again rather than editing it"
	case file == "ci/pipeline.yaml":
		return "the stages of ci/pipeline.yaml: " + schemas.DocsURL(schemas.Pipeline)
	}
	return ""
}

// parse parses one of marina's files, returning findings for syntax and limit problems.
func parse(file string, data []byte) (*schemas.Document, []Finding) {
	doc, err := schemas.Parse(file, data)
	if err != nil {
		return nil, problemFindings(err, file, "yaml", nil)
	}
	return doc, nil
}

// checkProject checks marina.yaml with the same rules as every command that loads it.
func (v *validation) checkProject() []Finding {
	f := file{path: project.ProjectFile, kind: kindApplication}
	data, findings := v.read(f)
	if data == nil {
		return findings
	}
	doc, findings := parse(f.path, data)
	if doc == nil {
		return findings
	}
	v.projectDoc = doc
	p, err := project.Load(v.r)
	if err != nil {
		return problemFindings(err, f.path, "schema", doc)
	}
	v.project = p
	return nil
}

func (v *validation) checkApplication(file string, data []byte) result {
	doc, findings := parse(file, data)
	if doc == nil {
		return result{findings: findings}
	}
	// Only the lines are kept: the cross-file checks locate their findings with them.
	app := &application{dir: strings.TrimSuffix(file, "/"+project.ApplicationFile), file: file, lines: doc.Lines()}
	// The same checks as every command that loads model.yaml, including spec.model naming its directory.
	spec, err := project.DecodeApplication(doc)
	if err != nil {
		findings = problemFindings(err, file, "schema", doc)
	} else {
		app.spec = spec
	}
	return result{findings: findings, apply: func() { v.apps[app.dir] = app }}
}

func (v *validation) checkModelVersion(file string, data []byte) result {
	mv, err := model.Parse(file, data)
	var findings []Finding
	if err != nil {
		doc, _ := schemas.Parse(file, data)
		findings = problemFindings(err, file, "schema", doc)
	} else {
		findings = v.checkArtifactLocation(file, data, mv)
	}
	return result{findings: findings, apply: func() { v.versions[file] = &versionFile{file: file, v: mv} }}
}

func (v *validation) checkPipeline(file string, data []byte) result {
	doc, findings := parse(file, data)
	if doc == nil {
		return result{findings: findings}
	}
	var pipeline map[string]any
	if err := doc.Decode(schemas.Pipeline, &pipeline); err != nil {
		return result{findings: problemFindings(err, file, "schema", doc)}
	}
	return result{}
}

// checkArtifactLocation flags an artifact.uri that would make marina read outside the repository: an absolute
// path, file://, "..", an unknown scheme, or a path in the repository that is a symlink or not a regular file.
// A missing file is not flagged: artifacts are often kept out of Git (LFS, CI caches) and model check says so.
func (v *validation) checkArtifactLocation(file string, data []byte, mv *model.Version) []Finding {
	loc, err := mv.Artifact.Locate()
	if err == nil && loc.Path != "" && v.r.Exists(loc.Path) {
		_, err = v.r.CheckRegularFile(loc.Path)
	}
	if err == nil {
		return nil
	}
	line := 0
	if doc, _ := schemas.Parse(file, data); doc != nil {
		line = doc.LineOfPath("artifact.uri")
	}
	return []Finding{finding("artifact-location", file, "artifact.uri", line,
		"commit the artifact into the repository as a regular file and record its path relative to the root, or record where the cluster fetches it (oci://, s3://, gs://, https://)", "%v", err)}
}
