package validate

import (
	"fmt"
	"io"
	"strings"
)

// Rule describes one kind of finding. Rule ids are stable lowercase slugs whose first word is the family:
// file-*, yaml, schema (marina's own files), k8s-* (Kubernetes objects), xref-* (references between files), env-*
// (per-environment wiring), strategy-* (rollouts), version-* (registry state), policy-* (marina.yaml policies), artifact-*, gpu-*, gate-*
// and stale-render. An id never changes meaning; a retired rule keeps its id reserved.
type Rule struct {
	ID       string
	Severity Severity
	// Short is a one-line description (SARIF shortDescription).
	Short string
	// Help says why the rule exists and how to fix what it finds (SARIF help, docs).
	Help string
}

// Rules is every rule validate can report, in documentation order. SARIF's tool.driver.rules and the docs are
// generated from it.
var Rules = []Rule{
	{"file-unreadable", SeverityError, "A file cannot be read safely",
		"The file is larger than its limit, is a symlink that leaves the repository, or is not a regular file. marina never follows links out of the repository; replace the link with the file, or split the file."},
	{"file-name", SeverityError, "An entry in models/ that no command can use",
		"Every directory in models/ is a model, named like a Kubernetes object (lowercase letters, digits and '-', at most 63 characters), and is not a symlink; marina model list and every other command refuse the repository otherwise. Rename or remove the entry."},
	{"yaml", SeverityError, "A file is not valid YAML or JSON, or breaks a parsing limit",
		"Fix the syntax at the line shown. marina refuses YAML aliases and merge keys, duplicate keys, non-string keys, non-UTF-8 text and nesting deeper than 64 levels: write the values out."},
	{"schema", SeverityError, "A marina file does not match its JSON Schema",
		"marina.yaml, applications/*/model.yaml, models/*/v*.json and ci/pipeline.yaml are checked against marina's JSON schemas (their field reference: docs/reference/). Fix the field at the path shown: a misspelt field is unknown, a value of the wrong type or a missing required field is reported where it is."},
	{"k8s-schema", SeverityError, "A Kubernetes object does not match its schema",
		"Objects under applications/*/<env>/, infrastructure/ and gitops/ are checked offline against the Kubernetes and CRD schemas built into marina (plus --crds). An unknown field would be pruned or rejected by the API server; fix the field at the path shown. For rendered files, fix model.yaml and run `marina render --write`."},
	{"k8s-label", SeverityError, "A label key or value breaks the API server's rules",
		"Label keys are an optional DNS-subdomain prefix and a name of at most 63 characters; values are empty or at most 63 characters of letters, digits, '-', '_' and '.', beginning and ending with a letter or digit. The API server refuses anything else, so the object never applies. Fix the label; for rendered files, fix what feeds it and run `marina render --write`."},
	{"k8s-unknown-kind", SeverityWarning, "No schema is known for a Kubernetes object's apiVersion and kind",
		"The object was not checked. Pass the directory holding its CustomResourceDefinition with --crds DIR, or check the apiVersion for a typo."},
	{"k8s-yaml11-bool", SeverityWarning, "An unquoted yes/no/on/off stands where a string is wanted",
		"YAML 1.1 (kubectl, and other readers built on sigs.k8s.io/yaml) reads unquoted y, yes, on, n, no, off in any case as booleans; YAML 1.2 (marina, kustomize, Flux) reads them as strings. Where the schema wants a string, kubectl's reading is rejected by the API server. Quote the value."},
	{"k8s-kustomization", SeverityError, "A kustomization has an entry kustomize refuses",
		"Each item of patches and patchesJson6902 is an object: `- path: patch.yaml` (a file) or `- patch: |` (inline), with an optional target. A plain string there makes kustomize build, Argo CD and Flux fail with \"cannot unmarshal string into Go struct field Kustomization.patches\". marina still treats the named file as a patch, not as a whole object."},
	{"k8s-server", SeverityError, "The API server rejects an object (validate --server)",
		"With --server every object the repository deploys (each root kustomization built, plus plain manifest directories) is applied to the cluster with a server-side dry run, so the server's own validation, CRD schemas, CEL rules and admission judge it and nothing changes. Fix the field the server names; for rendered files, fix model.yaml and run `marina render --write`."},
	{"k8s-server-skipped", SeverityWarning, "An object or kustomization could not be checked on the server (validate --server)",
		"A kustomization that does not build, a remote base marina does not fetch, or credentials that may not patch the resource. Build the kustomization with `kustomize build` to see the error, or check with a user allowed to patch (dry runs persist nothing)."},
	{"xref-model", SeverityError, "model.yaml names a model that has no registered versions",
		"spec.model must name a directory models/<model>/ holding at least one v<semver>.json. Register a version with `marina model register`, or fix the name."},
	{"xref-environment", SeverityError, "model.yaml deploys to an environment marina.yaml does not define",
		"Every key of spec.environments must be the name of an environment in marina.yaml spec.environments. Add the environment to marina.yaml, or fix the name."},
	{"xref-version", SeverityError, "An environment deploys a version that is not registered",
		"spec.environments.<env>.version must have a models/<model>/v<version>.json. Register it with `marina model register`, or promote a registered version with `marina promote`."},
	{"strategy-backend", SeverityError, "An environment asks for a rollout strategy its backend cannot carry out",
		"Only spec.backend: marina (a ModelDeployment that marina controller rolls out) runs canary, blueGreen and shadow; plain and kserve would replace the version in one rolling update, so the strategy would be silently ignored. Set spec.backend: marina and install marina controller, or remove the strategy."},
	{"strategy-analysis-template", SeverityError, "An analysis step names a template the rendered ModelDeployment does not have",
		"An analysis step of a canary, or of a shadow's steps, runs a template of the ModelDeployment marina render writes: shadow (when a shadow-* built-in analysis is on) and one template per other built-in analysis, named like it, from the environment's analysis.builtin in model.yaml. marina controller cannot measure any other name, so the rollout would abort at that step. Turn the analysis on in analysis.builtin (e.g. {name: error-rate, max: 0.01}), or name a template that is on."},
	{"version-blocked", SeverityError, "An environment deploys a blocked version",
		"A version is blocked after a failed rollout or by hand. Deploy another version with `marina promote NAME@VERSION --env ENV`, or go back with `marina rollback NAME --env ENV`."},
	{"version-archived", SeverityWarning, "An environment deploys an archived version",
		"Archived versions are kept for history and their artifacts may be garbage-collected. Promote a current version."},
	{"xref-config", SeverityError, "spec.config names a file that does not exist",
		"spec.config is a file beside model.yaml (e.g. config.yaml) rendered into a ConfigMap. Add the file or fix the name; it may not leave the application's directory."},
	{"xref-secret", SeverityError, "A sealedSecret names a file that does not exist",
		"spec.secrets[].sealedSecret.file is a SealedSecret manifest beside model.yaml. Seal the secret with kubeseal into that file, or fix the name."},
	{"env-overlay", SeverityError, "An environment has no infrastructure overlay",
		"Every environment of marina.yaml needs infrastructure/overlays/<env>/ (namespace, quota, defaults). `marina init` writes one per environment; copy an existing overlay and change its namespace."},
	{"env-argocd", SeverityError, "An environment is missing from the Argo CD configuration",
		"With argocd in spec.engines, gitops/argocd/ must exist and its ApplicationSet must list applications/*/<env>. Add the environment's directory to the git generator, or remove argocd from spec.engines."},
	{"env-flux", SeverityError, "An environment is missing from the Flux configuration",
		"With flux in spec.engines, every environment needs gitops/flux/apps/<env>/kustomization.yaml. Copy another environment's and change the name, or remove flux from spec.engines."},
	{"policy-limits", SeverityError, "A model runs without CPU or memory limits where the environment requires them",
		"The environment's policy has requireLimits: set resources.limits.cpu and resources.limits.memory in model.yaml, at spec level or for the environment."},
	{"policy-digest", SeverityError, "A model's image is not pinned by digest where the environment requires it",
		"The environment's policy has requireDigestPinnedImages: write spec.runtime.image as registry/name@sha256:<digest> (the digest `make image`, `crane digest` or your CI's build printed), or let CI record the image it built for the version: `marina model set-image NAME@VERSION --image REGISTRY/REPOSITORY@sha256:<digest>` (the workflows marina init writes run it)."},
	{"policy-signed", SeverityError, "A version is deployed without a valid signature where the environment requires signed artifacts",
		"The environment's policy has requireSignedArtifacts: the version's signing.bundle must be a signature over its artifact.digest that verifies with one of the public keys of spec.signing.publicKeys in marina.yaml. Sign it with `marina model sign NAME@VERSION --key KEY` (one commit: the bundle and the signing field), add the signer's public key to marina.yaml, or deploy a signed version."},
	{"signing-key", SeverityError, "A public key marina.yaml trusts for signatures is missing or unusable",
		"spec.signing.publicKeys lists PEM public keys (ECDSA P-256/P-384/P-521 or Ed25519) committed in the repository, as openssl pkey -pubout or cosign generate-key-pair write them. Commit the key at that path or fix the path."},
	{"artifact-digest", SeverityError, "A registered version does not pin its artifact by digest",
		"models/<model>/v<version>.json must record artifact.digest as sha256:<64 hex digits>. Register the version again with `marina model register`, which hashes the file."},
	{"artifact-location", SeverityError, "A version's artifact is outside the repository, or a symlink or special file in it",
		"artifact.uri is a remote URI (oci://, s3://, gs://, https://) or a clean path relative to the repository root naming a regular file committed there. An absolute path, file://, \"..\" or a symlink would make validate, model check and serve read a file the repository does not hold, and render write a host path into the Deployment. Commit the artifact and record its path, or upload it (marina model push) and record the URI."},
	{"artifact-in-repository", SeverityWarning, "A deployed version's artifact is a file in the repository, which the cluster cannot fetch",
		"The model server runs in a container that has marina's image, not this repository: a version recorded with a repository path renders a Deployment whose server finds no model (and an InferenceService without storageUri). Push the version to an OCI registry with `marina model push NAME@VERSION`, which records oci://…@sha256:… in the same commit; the rendered pod then pulls it into /models (an init container) or mounts it (spec.runtime.artifact.via: imageVolume). A warning, not an error, while a repository path is how every version starts: render still writes the manifests."},
	{"gpu-toleration", SeverityError, "A GPU model does not tolerate the GPU node taint",
		"Models that request nvidia.com/gpu must carry a toleration for nvidia.com/gpu, or they never schedule on tainted GPU nodes. Add {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule} to tolerations."},
	{"gpu-node-selector", SeverityWarning, "A GPU model has no nodeSelector",
		"Without a nodeSelector the scheduler relies on the device plugin alone. Add e.g. nvidia.com/gpu.present: \"true\" to nodeSelector to keep GPU pods on GPU nodes."},
	{"gpu-quota", SeverityError, "GPU models need more GPUs than the environment's ResourceQuota allows",
		"Replicas (the autoscaler maximum when one is set) times GPUs per replica, summed over the environment's models, must fit requests.nvidia.com/gpu of the environment's ResourceQuota. Lower replicas, or raise the quota in infrastructure/overlays/<env>/."},
	{"repo-url-placeholder", SeverityInfo, "marina.yaml names the placeholder repository URL marina init writes without --repo-url",
		"spec.repository.url is https://git.example.com/<project>.git, which Argo CD and Flux cannot pull. Replace it in marina.yaml and gitops/ with the URL of this repository."},
	{"repo-url-writeback", SeverityError, "A model writes aborted rollouts back to the placeholder repository URL",
		"model.yaml's writeBack has marina controller push an aborted rollout's revert to marina.yaml's spec.repository.url, which is still the placeholder https://git.example.com/<project>.git marina init writes without --repo-url: the push would fail when a rollout aborts, and the GitOps engine would apply the aborted version again. Set spec.repository.url (and the URLs in gitops/) to this repository's https:// clone URL, then run `marina render --write`."},
	{"gates-missing", SeverityWarning, "marina.yaml sets no quality gates",
		"Without spec.gates any registered version may be promoted. Set spec.gates.accuracy.min and spec.gates.latencyP95Ms.max."},
	{"gate-accuracy", SeverityError, "A deployed version fails the accuracy gate",
		"The version's recorded accuracy is below spec.gates.accuracy.min, or regresses more than maxRegression against the version in the last environment. Deploy a better version, or change the gate deliberately."},
	{"gate-latency", SeverityError, "A deployed version fails the latency gate",
		"The version's recorded p95 latency (metric latencyP95Ms) is above spec.gates.latencyP95Ms.max. Deploy a faster version, or change the gate deliberately."},
	{"gate-metric-missing", SeverityInfo, "A deployed version has no metric for a gate",
		"The gate cannot be evaluated from the metadata. Record it on the registered version (`marina model register NAME --version VERSION --metric accuracy=0.93`, or `--file MODEL.onnx --evaluate` to measure it); this adds the metric in one commit."},
	{"stale-render", SeverityError, "Rendered manifests differ from what model.yaml and models/ render to",
		"applications/<model>/<env>/ is committed rendered output. Run `marina render --write` and commit the result; never edit rendered files by hand."},
}

var rulesByID = func() map[string]*Rule {
	m := make(map[string]*Rule, len(Rules))
	for i := range Rules {
		m[Rules[i].ID] = &Rules[i]
	}
	return m
}()

// RuleByID returns the rule with the given id.
func RuleByID(id string) (Rule, bool) {
	r, ok := rulesByID[id]
	if !ok {
		return Rule{}, false
	}
	return *r, true
}

// finding builds a finding of rule id with the rule's severity. An unknown id is a programming error caught by
// tests; it is reported as an error finding rather than a panic.
func finding(id, file, path string, line int, hint, format string, args ...any) Finding {
	sev := SeverityError
	if r, ok := rulesByID[id]; ok {
		sev = r.Severity
	}
	return Finding{Severity: sev, Rule: id, File: file, Path: path, Line: line, Message: fmt.Sprintf(format, args...), Hint: hint}
}

// WriteRulesMarkdown writes the rules table as Markdown, for the CLI reference in docs/.
func WriteRulesMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| rule | severity | what it finds | what to do |\n|---|---|---|---|\n")
	for _, r := range Rules {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.ID, r.Severity, r.Short, strings.ReplaceAll(r.Help, "|", `\|`))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
