package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/check"
	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/report"
)

type modelCheckOptions struct {
	*globalOptions
	name, version    string
	runs, warmup     int
	file, outputFile string
	inputShapes      []string

	format string             // resolved from -o by Validate
	shapes map[string][]int64 // parsed from --input-shape by Validate
}

func (o *modelCheckOptions) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.runs, "runs", check.DefaultRuns, "timed inferences for the latency percentiles")
	fs.IntVar(&o.warmup, "warmup", check.DefaultWarmup, "untimed inferences before the timed ones")
	fs.StringVar(&o.file, "file", "", "a local copy of the artifact, for versions whose uri is remote (s3://, oci://, …)")
	fs.StringVar(&o.outputFile, "output-file", "", "write the report to this file instead of stdout (stdout then gets the text report)")
	fs.StringArrayVar(&o.inputShapes, "input-shape", nil, "NAME=D1,D2,… (NAME= for a scalar): the shape of a generated smoke input, for dynamic dimensions (repeatable; instead of the sample requests)")
}

func (o *modelCheckOptions) Validate() error {
	var err error
	if o.format, err = resolveFormat("model check", o.output, report.Formats(&check.Report{})); err != nil {
		return err
	}
	if o.runs < 1 {
		return usagef("--runs must be at least 1, not %d", o.runs)
	}
	if o.warmup < 0 {
		return usagef("--warmup must be 0 or more, not %d", o.warmup)
	}
	if o.shapes, err = check.ParseInputShapes(o.inputShapes); err != nil {
		return usagef("%v", err)
	}
	if err := registry.CheckName(o.name); err != nil {
		return usagef("%v", err)
	}
	if o.version == "" {
		return usagef("name the version to check: %s@VERSION", o.name)
	}
	if _, err := model.ParseSemver(o.version); err != nil {
		return usagef("%s@%s: %v", o.name, o.version, err)
	}
	return nil
}

// checkWarmup maps --warmup, where 0 means none, to check.Options.Warmup, where 0 means the default and a negative
// number none.
func checkWarmup(flag int) int {
	if flag == 0 {
		return -1
	}
	return flag
}

func (o *modelCheckOptions) Run(ctx context.Context) error {
	r, err := o.openRepo()
	if err != nil {
		return err
	}
	defer r.Close()
	rep, err := check.Check(ctx, r, o.name, o.version, check.Options{Runs: o.runs, Warmup: checkWarmup(o.warmup), File: o.file, InputShapes: o.shapes})
	if err != nil {
		return checkError(err)
	}
	if o.outputFile != "" {
		var buf bytes.Buffer
		if err := report.Write(&buf, o.format, rep, report.Options{}); err != nil {
			return err
		}
		if err := os.WriteFile(o.outputFile, buf.Bytes(), 0o644); err != nil {
			return usagef("--output-file: %v", err)
		}
		if err := rep.WriteText(o.out, false); err != nil {
			return err
		}
	} else if err := report.Write(o.out, o.format, rep, report.Options{}); err != nil {
		return err
	}
	if n := rep.Failures(); n > 0 {
		return failedf("%s@%s: %s failed", rep.Model, rep.Version, plural(n, "check"))
	}
	return nil
}

// checkError maps an error of a model check to its exit code: a missing ONNX Runtime, or an --input-shape the
// model contradicts, is a usage error.
func checkError(err error) error {
	if errors.Is(err, inference.ErrNoRuntime) || errors.Is(err, check.ErrInputShape) {
		return usagef("%v", err)
	}
	return err
}

func newModelCheckCommand(g *globalOptions) *cobra.Command {
	o := &modelCheckOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "check NAME@VERSION [--runs N] [--warmup W] [--file F] [--input-shape NAME=D1,D2,…] [-o text|json|junit] [--output-file F]",
		Short: "Run a model version in ONNX Runtime: digest, signature, smoke inference, latency, evaluation, gates",
		Long: `check runs a registered ONNX model version in ONNX Runtime and measures it:

  artifact   the file artifact.uri names in the repository (--file for a remote uri)
  digest     its SHA-256 is the one models/NAME/vVERSION.json records
  load       ONNX Runtime loads it
  signature  its inputs and outputs are the declared ones (name, dtype, shape)
  smoke      an inference succeeds on the sample requests models/NAME/samples/*.json
             (Open Inference Protocol v2 request bodies, as POSTed to marina serve),
             else on generated inputs: --input-shape shapes, else the declared ones
             with a leading dynamic (batch) dimension of 1; another dynamic
             dimension with neither samples nor --input-shape skips the step
             ("cannot smoke-test without a shape") instead of guessing
  latency    --warmup untimed runs, then p50/p95/p99 over --runs timed runs (of the
             first sample, or the generated inputs)
  evaluate   metrics on the evaluation set models/NAME/eval/*.csv
  gates      spec.gates of marina.yaml against the measured metrics (the recorded ones
             for what was not measured); regressions are measured against the
             version deployed in the last environment

Evaluation set: every models/NAME/eval/*.csv, pooled. A header row names the input
feature columns, in the order the model's input takes them, then a last column
"label". Lines starting with # are comments. The model must have one float32 input
[batch, features].
  - Classification (first output [batch, C], C > 1; prediction = argmax): label is a
    class index 0..C-1 or a class name. Names map to indices through a comment line
    "# classes: name0,name1,..." when present, else in sorted order.
    Metrics: accuracy (top-1) and f1 (macro).
  - Regression (first output [batch, 1]): label is the target number. Metric: mae.
Latency metrics: latency_p50_ms, latency_p95_ms, latency_p99_ms.

Exit status: 1 when a check or gate fails, 2 when ONNX Runtime is not installed
(marina runtime install) or on a usage error.`,
		Example: `  marina model check iris-classifier@1.0.0
  marina model check iris-classifier@1.1.0 --runs 500 -o junit --output-file check.xml
  marina model check iris-classifier@1.0.0 --file ./downloaded.onnx -o json
  marina model check iris-classifier@1.0.0 --input-shape input=8,4`,
		Args: exactArgs(1, "NAME@VERSION"),
		RunE: runE(o, func(args []string) { o.name, o.version, _ = strings.Cut(args[0], "@") }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
