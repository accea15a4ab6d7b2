package scaffold

// pipeline writes ci/pipeline.yaml, the declarative stage list `marina ci` runs.
func (g *generator) pipeline() error {
	g.addTemplate("ci/pipeline.yaml", "pipeline.yaml.tmpl")
	return nil
}

func (g *generator) gitHub() error {
	g.addTemplate(".github/workflows/marina.yaml", "github-workflow.yaml.tmpl")
	return nil
}

func (g *generator) gitLab() error {
	g.addTemplate(".gitlab-ci.yml", "gitlab-ci.yml.tmpl")
	return nil
}

func (g *generator) readme() error {
	g.addTemplate("README.md", "README.md.tmpl")
	return nil
}
