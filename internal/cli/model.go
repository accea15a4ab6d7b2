package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/check"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
)

func newModelCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Register and query model versions (the registry in models/)",
	}
	cmd.AddCommand(newRegisterCommand(g), newModelListCommand(g), newModelShowCommand(g), newSetImageCommand(g), newModelCheckCommand(g),
		newModelPushCommand(g), newModelPullCommand(g), newModelSignCommand(g))
	return cmd
}

type registerOptions struct {
	*globalOptions
	name, version, file, uri string
	metrics, labels          []string
	metricsFile              string
	gitCommit, datasetDigest string
	evaluate                 bool
	// --push and --to: push the file to an OCI registry and record oci://…@sha256:… instead of a repository path.
	registryFlags
	pushArtifact bool
	to           string
	toRef        oci.Reference
}

func (o *registerOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.file, "file", "", "model artifact to hash and inspect (required for a new version; on a registered version it must have the recorded digest)")
	fs.StringVar(&o.version, "version", "", "semantic version to register, e.g. 1.2.0 (required)")
	fs.StringVar(&o.uri, "uri", "", "where the cluster fetches the artifact (oci://, s3://, gs://, https://); default: the file's path in the repository; required for a file outside it")
	fs.StringArrayVar(&o.metrics, "metric", nil, "a measured metric, key=value (repeatable), e.g. --metric accuracy=0.93")
	fs.StringVar(&o.metricsFile, "metrics-file", "", "JSON object of metrics, e.g. {\"accuracy\": 0.93}")
	fs.StringArrayVar(&o.labels, "label", nil, "a free label, key=value (repeatable)")
	fs.StringVar(&o.gitCommit, "git-commit", "", "commit of the training code (provenance)")
	fs.StringVar(&o.datasetDigest, "dataset-digest", "", "sha256:… digest of the training dataset (provenance)")
	fs.BoolVar(&o.evaluate, "evaluate", false, "run the ONNX model of --file in ONNX Runtime and record its latency and, with models/NAME/eval/*.csv, its accuracy (measured values win over --metric)")
	fs.BoolVar(&o.pushArtifact, "push", false, "push --file to the OCI registry repository --to and record oci://…@sha256:… as artifact.uri, in the same commit (see marina model push)")
	fs.StringVar(&o.to, "to", "", "registry repository for --push, HOST/REPO")
	o.registryFlags.AddFlags(fs)
}

func (o *registerOptions) Validate() error {
	if o.version == "" {
		return usagef("--version is required")
	}
	if o.evaluate && o.file == "" {
		return usagef("--evaluate needs --file: the model to run")
	}
	if err := registry.CheckName(o.name); err != nil {
		return usagef("%v", err)
	}
	if _, err := model.ParseSemver(o.version); err != nil {
		return usagef("--version: %v", err)
	}
	if o.pushArtifact {
		if o.to == "" {
			return usagef("--push needs --to, the registry repository, e.g. --to registry.example.com/models/%s", o.name)
		}
		if o.uri != "" {
			return usagef("--push and --uri: the artifact's URI is where --push puts it; leave --uri out")
		}
		ref, err := oci.ParseRepository(o.to)
		if err != nil {
			return usagef("--to %v", err)
		}
		o.toRef = ref
	} else if o.to != "" {
		return usagef("--to is where --push pushes the artifact; add --push, or push later with marina model push %s@%s --to %s", o.name, o.version, o.to)
	}
	return nil
}

func (o *registerOptions) registration() (registry.Registration, error) {
	reg := registry.Registration{Name: o.name, Version: o.version, File: o.file, URI: o.uri, Progress: o.newProgress("hashing " + o.file)}
	if o.metricsFile != "" {
		m, err := readMetricsFile(o.metricsFile)
		if err != nil {
			return reg, err
		}
		reg.Metrics = m
	}
	for _, kv := range o.metrics {
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || k == "" || err != nil {
			return reg, usagef("--metric %q: want key=number, e.g. accuracy=0.93", kv)
		}
		if reg.Metrics == nil {
			reg.Metrics = map[string]float64{}
		}
		reg.Metrics[k] = f
	}
	for _, kv := range o.labels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return reg, usagef("--label %q: want key=value", kv)
		}
		if reg.Labels == nil {
			reg.Labels = map[string]string{}
		}
		reg.Labels[k] = v
	}
	if o.gitCommit != "" || o.datasetDigest != "" {
		reg.Provenance = &model.Provenance{GitCommit: o.gitCommit, DatasetDigest: o.datasetDigest}
	}
	return reg, nil
}

func readMetricsFile(file string) (map[string]float64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, usagef("--metrics-file: %v", err)
	}
	defer f.Close()
	data, err := readCapped(f, schemas.MaxFileSize)
	if err != nil {
		return nil, usagef("--metrics-file %s: %v", file, err)
	}
	doc, err := schemas.Parse(file, data)
	if err != nil {
		return nil, failed(err)
	}
	m, ok := doc.Value.(map[string]any)
	if !ok {
		return nil, failedf("%s: want a JSON object of metric names to numbers", file)
	}
	out := map[string]float64{}
	for k, v := range m {
		n, ok := v.(json.Number)
		f, err := n.Float64()
		if !ok || err != nil {
			return nil, failedf("%s: %s: want a number", file, k)
		}
		out[k] = f
	}
	return out, nil
}

func (o *registerOptions) Run(ctx context.Context) error {
	reg, err := o.registration()
	if err != nil {
		return err
	}
	if o.pushArtifact {
		reg.Publish = o.publisher(ctx, o.toRef)
	}
	var res *registry.Result
	err = o.write(func(r *repo.Repo) error {
		if o.file == "" && !r.Exists(model.File(o.name, o.version)) {
			return usagef("--file is required to register a new version (%s@%s is not registered yet)", o.name, o.version)
		}
		if o.evaluate {
			if err := o.measure(ctx, r, &reg); err != nil {
				return err
			}
		}
		res, err = (&registry.Registry{Repo: r}).Register(reg)
		return err
	})
	if err != nil {
		return err
	}
	v := res.Version
	return o.result(v, func(w io.Writer) {
		if res.Unchanged {
			fmt.Fprintf(w, "%s@%s is already registered with digest %s and these metrics and labels: nothing to do\n", v.Name, v.Version, v.Artifact.Digest)
			return
		}
		if len(res.Updated) > 0 {
			fmt.Fprintf(w, "recorded on %s@%s (commit %s):\n  %s\n", v.Name, v.Version, res.Commit[:12], strings.Join(res.Updated, "\n  "))
			return
		}
		fmt.Fprintf(w, "registered %s@%s (%s, %s, %d bytes)\n  file   %s\n  tags   %s@v%s, %s\n  commit %s\n",
			v.Name, v.Version, v.Format, v.Artifact.Digest, v.Artifact.Size, model.File(v.Name, v.Version), v.Name, v.Version, v.Tag, res.Commit[:12])
		if len(v.Metrics) > 0 {
			var ms []string
			for _, k := range slices.Sorted(maps.Keys(v.Metrics)) {
				ms = append(ms, k+"="+strconv.FormatFloat(v.Metrics[k], 'g', 6, 64))
			}
			fmt.Fprintf(w, "  metrics %s\n", strings.Join(ms, " "))
		}
	})
}

// measure runs the artifact in ONNX Runtime (latency, and the evaluation set when the repository has one) and
// records the measured metrics in reg, over any given with --metric.
func (o *registerOptions) measure(ctx context.Context, r *repo.Repo, reg *registry.Registration) error {
	insp, err := model.Inspect(o.file)
	if err == nil {
		err = insp.CheckName(o.file)
	}
	if err != nil {
		return failedf("--file %s: %w", o.file, err)
	}
	if insp.Format != "onnx" {
		return usagef("--evaluate: %s is %s; marina evaluates ONNX models only", o.file, insp.Format)
	}
	eval, err := check.ReadEval(r, o.name)
	if err != nil {
		return err
	}
	if len(eval) == 0 {
		fmt.Fprintf(o.errOut, "--evaluate: no evaluation set (%s/*.csv): measuring latency only, no accuracy\n", check.EvalDir(o.name))
	}
	samples, err := check.ReadSamples(r, o.name)
	if err != nil {
		return err
	}
	rep, err := check.Run(ctx, check.Input{Artifact: o.file, Eval: eval, Samples: samples}, check.Options{})
	if err != nil {
		return checkError(err)
	}
	if !rep.Passed {
		var b strings.Builder
		_ = rep.WriteText(&b, false)
		return failedf("--evaluate: %s failed its checks, nothing registered:\n%s", o.file, strings.TrimRight(b.String(), "\n"))
	}
	if reg.Metrics == nil {
		reg.Metrics = map[string]float64{}
	}
	for k, v := range rep.Metrics {
		reg.Metrics[k] = v
	}
	return nil
}

func newRegisterCommand(g *globalOptions) *cobra.Command {
	o := &registerOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "register NAME --file PATH --version SEMVER",
		Short: "Hash, inspect and record a model version in Git",
		Long: `register streams the artifact once through SHA-256, reads the ONNX signature
(opset, inputs, outputs) from its protobuf header, writes models/NAME/vVERSION.json,
commits it and tags the commit NAME@vVERSION and vVERSION-<short sha>.

Registering a version again with the same digest does nothing; with another
digest it is refused: versions are immutable. What was measured about a version
may grow, though: registering an existing version with --metric, --metrics-file,
--label or --evaluate records those (one commit), and --file is then optional
(without --evaluate).

--evaluate runs an ONNX artifact in ONNX Runtime first and records what it
measures: latency_p50_ms, latency_p95_ms and latency_p99_ms, and, when
models/NAME/eval/*.csv exist, accuracy and f1 (classification) or mae
(regression); the format is in ` + "`marina model check --help`" + `. Measured metrics
override --metric and --metrics-file values of the same name. Without ONNX
Runtime it exits 2 (install it with bash hack/onnxruntime.sh).

--push --to HOST/REPO pushes --file to that registry repository as marina model
push does, before anything is committed, and records artifact.uri
oci://HOST/REPO@sha256:… in the register commit; --file may then be outside the
repository.`,
		Example: `  marina model register fraud-detector --file model.onnx --version 1.0.0 \
    --metric accuracy=0.93 --label team=risk
  marina model register llm --file weights.bin --version 2.1.0 \
    --uri oci://registry.example.com/models/llm:2.1.0
  marina model register iris-classifier --file v1.1.0.onnx --version 1.1.0 --evaluate
  marina model register fraud-detector --file model.onnx --version 1.1.0 \
    --push --to registry.example.com/models/fraud-detector
  marina model register fraud-detector --version 1.0.0 --metric latency_p95_ms=12.5`,
		Args: exactArgs(1, "NAME"),
		RunE: runE(o, func(args []string) { o.name = args[0] }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func newModelListCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "list [NAME]",
		Aliases: []string{"ls"},
		Short:   "List registered model versions",
		Example: "  marina model list\n  marina model list fraud-detector -o json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.read(func(r *repo.Repo, p *printer) error {
				name := ""
				if len(args) == 1 {
					name = args[0]
				}
				vs, err := (&registry.Registry{Repo: r}).List(name)
				if err != nil {
					return err
				}
				if name != "" && len(vs) == 0 {
					return unknownModel(r, name)
				}
				if vs == nil {
					vs = []model.Version{}
				}
				t := table{header: []string{"MODEL", "VERSION", "STATE", "FORMAT", "DIGEST", "CREATED"}}
				for _, v := range vs {
					t.rows = append(t.rows, []string{v.Name, v.Version, v.State, v.Format, shortDigest(v.Artifact.Digest), v.Created.Format("2006-01-02 15:04")})
				}
				return p.print(vs, t)
			})
		},
	}
}

func newModelShowCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "show NAME[@VERSION]",
		Short:   "Show one registered version (default: the latest by semver)",
		Example: "  marina model show fraud-detector\n  marina model show fraud-detector@1.0.0 -o yaml",
		Args:    exactArgs(1, "NAME[@VERSION]"),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.read(func(r *repo.Repo, p *printer) error {
				name, version, _ := strings.Cut(args[0], "@")
				v, err := (&registry.Registry{Repo: r}).Get(name, version)
				if err != nil {
					return err
				}
				return p.print(v, versionTable(v))
			})
		},
	}
}

// versionTable is the table view of one registered version.
func versionTable(v *model.Version) table {
	t := table{header: []string{"FIELD", "VALUE"}, rows: [][]string{
		{"name", v.Name}, {"version", v.Version}, {"tag", v.Tag}, {"state", v.State},
		{"format", v.Format}, {"uri", v.Artifact.URI}, {"digest", v.Artifact.Digest},
		{"size", strconv.FormatInt(v.Artifact.Size, 10)}, {"created", v.Created.Format("2006-01-02T15:04:05Z07:00")},
	}}
	if v.StateReason != "" {
		t.rows = append(t.rows, []string{"reason", v.StateReason})
	}
	if s := v.Signature; s != nil {
		t.rows = append(t.rows, []string{"opset", strconv.FormatInt(s.Opset, 10)})
		for _, in := range s.Inputs {
			t.rows = append(t.rows, []string{"input", tensorString(in)})
		}
		for _, out := range s.Outputs {
			t.rows = append(t.rows, []string{"output", tensorString(out)})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(v.Metrics)) {
		t.rows = append(t.rows, []string{"metric " + k, strconv.FormatFloat(v.Metrics[k], 'g', -1, 64)})
	}
	for _, k := range slices.Sorted(maps.Keys(v.Labels)) {
		t.rows = append(t.rows, []string{"label " + k, v.Labels[k]})
	}
	return t
}

func tensorString(t model.Tensor) string {
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		if d < 0 {
			dims[i] = "?"
		} else {
			dims[i] = strconv.FormatInt(d, 10)
		}
	}
	return fmt.Sprintf("%s %s[%s]", t.Name, t.DType, strings.Join(dims, ","))
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
