package schemas

// DocsBase is where the field reference of marina's files is published: docs/reference/ of marina's repository,
// generated from these schemas by hack/gendocs.
const DocsBase = "https://github.com/marina-dev/marina/blob/main/docs/reference/"

// Documented lists the schemas with a field reference page, and the file each describes, in the order of the docs.
var Documented = []struct {
	Schema Schema
	File   string
}{
	{Project, "marina.yaml"},
	{Application, "applications/<model>/model.yaml"},
	{ModelVersion, "models/<model>/v<semver>.json"},
	{Pipeline, "ci/pipeline.yaml"},
}

// DocsPage is the file name of s's field reference page under docs/reference/.
func DocsPage(s Schema) string {
	switch s {
	case Project:
		return "marina-yaml.md"
	case Application:
		return "model-yaml.md"
	case ModelVersion:
		return "model-version-json.md"
	case Pipeline:
		return "pipeline-yaml.md"
	}
	return ""
}

// DocsURL is the published field reference of s.
func DocsURL(s Schema) string { return DocsBase + DocsPage(s) }
