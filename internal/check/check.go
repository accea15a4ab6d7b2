package check

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/marina-dev/marina/internal/gate"
	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo"
)

// Metrics measured by a check, as recorded in a version's metadata.
const (
	MetricAccuracy   = gate.MetricAccuracy
	MetricF1         = "f1"
	MetricMAE        = "mae"
	MetricLatencyP50 = "latency_p50_ms"
	MetricLatencyP95 = gate.MetricLatencyP95
	MetricLatencyP99 = "latency_p99_ms"
)

// Step names, in the order they run.
const (
	StepArtifact  = "artifact"
	StepDigest    = "digest"
	StepLoad      = "load"
	StepSignature = "signature"
	StepSmoke     = "smoke"
	StepLatency   = "latency"
	StepEvaluate  = "evaluate"
)

// Defaults of Options.
const (
	DefaultRuns      = 100
	DefaultWarmup    = 10
	DefaultBatchSize = 64
)

// EvalDir is the directory of a model's evaluation set.
func EvalDir(name string) string { return path.Join(model.Dir, name, "eval") }

// Options tune the measurements.
type Options struct {
	// Runs is the number of timed inferences (default DefaultRuns); Warmup runs before them are not timed
	// (default DefaultWarmup; negative means none).
	Runs, Warmup int
	// BatchSize is the number of evaluation rows per inference (default DefaultBatchSize).
	BatchSize int
	// File, when set, is a local copy of the artifact to check instead of the one the metadata's URI names.
	File string
	// InputShapes, when set, are the shapes of the generated smoke inputs (--input-shape), used instead of the
	// sample requests; inputs not named keep their declared shape.
	InputShapes map[string][]int64
}

func (o Options) withDefaults() Options {
	if o.Runs <= 0 {
		o.Runs = DefaultRuns
	}
	if o.Warmup == 0 {
		o.Warmup = DefaultWarmup
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	return o
}

// Step is one check's outcome: plain data for reports.
type Step struct {
	Name    string `json:"name"`
	Passed  bool   `json:"passed"`
	Skipped bool   `json:"skipped,omitempty"`
	Message string `json:"message"`
	// Value is the step's main number (a latency in ms, an accuracy), when it has one.
	Value *float64 `json:"value,omitempty"`
}

// Latency is the timing of Runs inferences on the smoke inputs after Warmup untimed ones.
type Latency struct {
	Runs   int     `json:"runs"`
	Warmup int     `json:"warmup"`
	P50Ms  float64 `json:"p50Ms"`
	P95Ms  float64 `json:"p95Ms"`
	P99Ms  float64 `json:"p99Ms"`
}

// Evaluation is what the evaluation set measured.
type Evaluation struct {
	Files    []string `json:"files"`
	Examples int      `json:"examples"`
	// Task is classification or regression.
	Task     string   `json:"task"`
	Correct  int      `json:"correct,omitempty"`
	Accuracy *float64 `json:"accuracy,omitempty"`
	F1       *float64 `json:"f1,omitempty"`
	MAE      *float64 `json:"mae,omitempty"`
}

// Report is the outcome of checking one model version.
type Report struct {
	Model    string `json:"model,omitempty"`
	Version  string `json:"version,omitempty"`
	Artifact string `json:"artifact"`
	Steps    []Step `json:"steps"`
	// Metrics are the measured metrics, named as in the metadata.
	Metrics    map[string]float64 `json:"metrics"`
	Latency    *Latency           `json:"latency,omitempty"`
	Evaluation *Evaluation        `json:"evaluation,omitempty"`
	Gates      []gate.Result      `json:"gates,omitempty"`
	Passed     bool               `json:"passed"`
}

// Failures counts the failed steps and gates.
func (r *Report) Failures() int {
	n := 0
	for _, s := range r.Steps {
		if !s.Passed {
			n++
		}
	}
	for _, g := range r.Gates {
		if !g.Passed {
			n++
		}
	}
	return n
}

func (r *Report) add(s Step) { r.Steps = append(r.Steps, s) }

// fail records err as the failure of step name, and returns nil so the check goes on; when ctx has ended, err is
// its consequence, not the model's: nothing is recorded and ctx's error stops the check.
func (r *Report) fail(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.add(Step{Name: name, Message: err.Error()})
	return nil
}

func (r *Report) finish() *Report {
	r.Passed = r.Failures() == 0
	return r
}

// Input is what Run checks: an artifact on disk, optionally the metadata it must match, and an evaluation set.
type Input struct {
	// Artifact is the model file.
	Artifact string
	// Version, when set, is the metadata the artifact must match (digest, signature).
	Version *model.Version
	// Eval are the evaluation files; none skips the evaluation.
	Eval []EvalFile
	// Samples are the sample requests the smoke inference and the latency runs use, when no Options.InputShapes
	// are given; none means generated inputs.
	Samples []Sample
}

// Check checks a registered version of a model in r: the artifact its metadata names (or opts.File), with the
// evaluation set of models/<name>/eval/, then the gates of marina.yaml against the measured metrics (the recorded
// ones for what was not measured, e.g. without an evaluation set), regressions
// measured against the version deployed in the last environment. The error is for what is not the version's
// fault (ONNX Runtime missing: inference.ErrNoRuntime; an unregistered version; a broken marina.yaml).
func Check(ctx context.Context, r *repo.Repo, name, version string, opts Options) (*Report, error) {
	reg := &registry.Registry{Repo: r}
	v, err := reg.Get(name, version)
	if err != nil {
		return nil, err
	}
	p, err := project.Load(r)
	if err != nil {
		return nil, err
	}
	eval, err := ReadEval(r, name)
	if err != nil {
		return nil, err
	}
	samples, err := ReadSamples(r, name)
	if err != nil {
		return nil, err
	}
	rep := &Report{Model: v.Name, Version: v.Version, Metrics: map[string]float64{}}
	file, step := resolve(r, v, opts.File)
	rep.Artifact = v.Artifact.URI
	if opts.File != "" {
		rep.Artifact = opts.File
	}
	rep.add(step)
	if !step.Passed {
		return rep.finish(), nil
	}
	if err := run(ctx, rep, Input{Artifact: file, Version: v, Eval: eval, Samples: samples}, opts); err != nil {
		return nil, err
	}
	rep.Gates = gate.Check(p.Spec.Gates, rep.Measured(v), reference(r, p, v))
	return rep.finish(), nil
}

// Run checks an artifact without a repository: digest and signature against in.Version when set, load, smoke,
// latency and the evaluation. It returns an error only for what is not the model's fault (ONNX Runtime missing,
// ctx cancelled); everything else is a failed step in the report.
func Run(ctx context.Context, in Input, opts Options) (*Report, error) {
	rep := &Report{Artifact: in.Artifact, Metrics: map[string]float64{}}
	if in.Version != nil {
		rep.Model, rep.Version = in.Version.Name, in.Version.Version
	}
	if err := run(ctx, rep, in, opts); err != nil {
		return nil, err
	}
	return rep.finish(), nil
}

// ReadEval reads models/<name>/eval/*.csv in name order; none is an empty set.
func ReadEval(r *repo.Repo, name string) ([]EvalFile, error) {
	return readFiles(r, EvalDir(name), ".csv", MaxEvalFileSize, func(p string, data []byte) EvalFile { return EvalFile{Name: p, Data: data} })
}

// readFiles reads the files of dir whose names end in ext, in name order, each up to limit bytes; a missing
// directory has none.
func readFiles[T any](r *repo.Repo, dir, ext string, limit int64, file func(path string, data []byte) T) ([]T, error) {
	entries, err := r.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	var out []T
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ext {
			continue
		}
		p := path.Join(dir, e.Name())
		data, err := r.ReadFile(p, limit)
		if err != nil {
			return nil, err
		}
		out = append(out, file(p, data))
	}
	return out, nil
}

// Measured is v with the metrics rep measured in place of those v records: what gates judge, so that a metric this
// check cannot measure (no evaluation set) is judged as recorded.
func (rep *Report) Measured(v *model.Version) *model.Version {
	measured := *v
	measured.Metrics = make(map[string]float64, len(v.Metrics)+len(rep.Metrics))
	maps.Copy(measured.Metrics, v.Metrics)
	maps.Copy(measured.Metrics, rep.Metrics)
	return &measured
}

// resolve finds the artifact on disk: override, else the metadata's URI when it is a path in the repository.
func resolve(r *repo.Repo, v *model.Version, override string) (string, Step) {
	s := Step{Name: StepArtifact}
	if override != "" {
		s.Passed, s.Message = true, fmt.Sprintf("%s (--file, instead of %s)", override, v.Artifact.URI)
		return override, s
	}
	meta := model.File(v.Name, v.Version)
	loc, err := v.Artifact.Locate()
	if err != nil {
		s.Message = fmt.Sprintf("%s: %v", meta, err)
		return "", s
	}
	if loc.Remote != "" {
		scheme, _, _ := strings.Cut(loc.Remote, "://")
		s.Message = fmt.Sprintf("cannot fetch %s:// artifacts here (%s); download it and pass --file with the local copy", scheme, loc.Remote)
		return "", s
	}
	uri := loc.Path
	if !r.Exists(uri) {
		s.Message = fmt.Sprintf("%s: artifact.uri %s does not exist in the repository; restore it or pass --file", meta, uri)
		return "", s
	}
	file, err := r.CheckRegularFile(uri)
	if err != nil {
		s.Message = fmt.Sprintf("%s: artifact.uri: %v", meta, err)
		return "", s
	}
	s.Passed, s.Message = true, uri
	return file, s
}

// reference is the version deployed in the last environment, read from applications/<model>/model.yaml.
func reference(r *repo.Repo, p *project.Project, v *model.Version) gate.Reference {
	envs := p.EnvironmentNames()
	if len(envs) == 0 {
		return gate.Reference{Note: "marina.yaml lists no environments"}
	}
	last := envs[len(envs)-1]
	ref := gate.Reference{Env: last}
	if !r.Exists(project.ApplicationPath(v.Name)) {
		return ref
	}
	app, _, err := project.LoadApplication(r, v.Name)
	if err != nil {
		ref.Note = fmt.Sprintf("%s cannot be read (%v)", project.ApplicationPath(v.Name), err)
		return ref
	}
	e, ok := app.Spec.Environments[last]
	if !ok || e.Version == "" {
		return ref
	}
	if e.Version == v.Version {
		ref.Note = fmt.Sprintf("%s@%s is the version deployed in %s", v.Name, v.Version, last)
		return ref
	}
	ref.Version, err = (&registry.Registry{Repo: r}).Get(v.Name, e.Version)
	if err != nil {
		ref.Note = fmt.Sprintf("%s@%s, deployed in %s, cannot be read (%v)", v.Name, e.Version, last, err)
	}
	return ref
}

func run(ctx context.Context, rep *Report, in Input, opts Options) error {
	opts = opts.withDefaults()
	if v := in.Version; v != nil {
		rep.add(digestStep(in.Artifact, v))
	}
	if err := inference.Init(); err != nil {
		return err
	}
	sess, err := inference.Load(in.Artifact)
	if err != nil {
		rep.add(Step{Name: StepLoad, Message: fmt.Sprintf("ONNX Runtime cannot load %s: %v", in.Artifact, err)})
		return nil
	}
	defer sess.Close()
	rep.add(Step{Name: StepLoad, Passed: true, Message: fmt.Sprintf("loaded in ONNX Runtime %s", inference.Version())})
	if v := in.Version; v != nil {
		rep.add(signatureStep(v, sess))
	}
	if err := checkShapes(sess.Inputs(), opts.InputShapes); err != nil {
		return err
	}
	samplesDir := SamplesDir("<model>") + "/"
	if v := in.Version; v != nil {
		samplesDir = SamplesDir(v.Name) + "/"
	}
	inputs, step := smoke(sess, in.Samples, opts.InputShapes, samplesDir)
	rep.add(step)
	if !step.Passed {
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if inputs == nil {
		rep.add(Step{Name: StepLatency, Passed: true, Skipped: true, Message: "nothing to time: the smoke inference could not run"})
	} else if err := latencyStep(ctx, rep, sess, inputs, opts); err != nil {
		return err
	}
	if len(in.Eval) == 0 {
		msg := "no evaluation set (models/<model>/eval/*.csv)"
		if v := in.Version; v != nil {
			msg = fmt.Sprintf("no evaluation set (%s/*.csv); gates judge the metrics recorded in %s", EvalDir(v.Name), model.File(v.Name, v.Version))
		}
		rep.add(Step{Name: StepEvaluate, Passed: true, Skipped: true, Message: msg})
		return ctx.Err()
	}
	ev, err := evaluate(ctx, sess, in.Eval, opts.BatchSize)
	if err != nil {
		return rep.fail(ctx, StepEvaluate, err)
	}
	rep.Evaluation = ev
	s := Step{Name: StepEvaluate, Passed: true}
	switch {
	case ev.Accuracy != nil:
		rep.Metrics[MetricAccuracy], rep.Metrics[MetricF1] = *ev.Accuracy, *ev.F1
		s.Value = ev.Accuracy
		s.Message = fmt.Sprintf("accuracy %s (%d/%d), macro F1 %s on %s", gate.Format(*ev.Accuracy), ev.Correct, ev.Examples, gate.Format(*ev.F1), strings.Join(ev.Files, ", "))
	case ev.MAE != nil:
		rep.Metrics[MetricMAE] = *ev.MAE
		s.Value = ev.MAE
		s.Message = fmt.Sprintf("MAE %s on %d examples of %s", gate.Format(*ev.MAE), ev.Examples, strings.Join(ev.Files, ", "))
	}
	rep.add(s)
	return nil
}

// latencyStep times the model on inputs and adds the latency step; the error is ctx's.
func latencyStep(ctx context.Context, rep *Report, sess *inference.Session, inputs []inference.Tensor, opts Options) error {
	lat, err := measureLatency(ctx, sess, inputs, opts)
	if err != nil {
		return rep.fail(ctx, StepLatency, err)
	}
	rep.Latency = lat
	rep.Metrics[MetricLatencyP50], rep.Metrics[MetricLatencyP95], rep.Metrics[MetricLatencyP99] = lat.P50Ms, lat.P95Ms, lat.P99Ms
	p95 := lat.P95Ms
	rep.add(Step{Name: StepLatency, Passed: true, Value: &p95, Message: fmt.Sprintf("p50 %s ms, p95 %s ms, p99 %s ms over %d runs (after %d warm-up)",
		ms(lat.P50Ms), ms(lat.P95Ms), ms(lat.P99Ms), lat.Runs, lat.Warmup)})
	return nil
}

func ms(f float64) string { return strconvFloat(math.Round(f*1000) / 1000) }

func digestStep(file string, v *model.Version) Step {
	s := Step{Name: StepDigest}
	d, _, err := model.DigestFile(file)
	switch {
	case err != nil:
		s.Message = err.Error()
	case d != v.Artifact.Digest:
		s.Message = fmt.Sprintf("%s has digest %s, but %s records %s: the artifact changed since it was registered", file, d, model.File(v.Name, v.Version), v.Artifact.Digest)
	default:
		s.Passed, s.Message = true, d
	}
	return s
}

// signatureStep compares the declared inputs and outputs with the session's.
func signatureStep(v *model.Version, sess *inference.Session) Step {
	s := Step{Name: StepSignature}
	if v.Signature == nil {
		s.Passed, s.Skipped, s.Message = true, true, fmt.Sprintf("%s declares no signature", model.File(v.Name, v.Version))
		return s
	}
	var diffs []string
	diffs = append(diffs, compareTensors("input", v.Signature.Inputs, sess.Inputs())...)
	diffs = append(diffs, compareTensors("output", v.Signature.Outputs, sess.Outputs())...)
	if len(diffs) > 0 {
		s.Message = fmt.Sprintf("%s does not match the model: %s", model.File(v.Name, v.Version), strings.Join(diffs, "; "))
		return s
	}
	s.Passed = true
	s.Message = fmt.Sprintf("%d inputs and %d outputs as declared", len(v.Signature.Inputs), len(v.Signature.Outputs))
	return s
}

func compareTensors(kind string, declared, actual []model.Tensor) []string {
	var diffs []string
	byName := map[string]model.Tensor{}
	for _, t := range actual {
		byName[t.Name] = t
	}
	for _, d := range declared {
		a, ok := byName[d.Name]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("declared %s %q is not in the model", kind, d.Name))
			continue
		}
		delete(byName, d.Name)
		if a.DType != d.DType || !slices.Equal(a.Shape, d.Shape) {
			diffs = append(diffs, fmt.Sprintf("%s %q is declared %s%v, the model has %s%v", kind, d.Name, d.DType, d.Shape, a.DType, a.Shape))
		}
	}
	for _, a := range actual {
		if _, ok := byName[a.Name]; ok {
			diffs = append(diffs, fmt.Sprintf("the model's %s %q is not declared", kind, a.Name))
		}
	}
	return diffs
}

// measureLatency times opts.Runs inferences after opts.Warmup untimed ones.
func measureLatency(ctx context.Context, sess *inference.Session, inputs []inference.Tensor, opts Options) (*Latency, error) {
	for range opts.Warmup {
		if _, err := sess.Run(inputs); err != nil {
			return nil, fmt.Errorf("warm-up inference failed: %w", err)
		}
	}
	d := make([]float64, 0, opts.Runs)
	for range opts.Runs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		if _, err := sess.Run(inputs); err != nil {
			return nil, fmt.Errorf("timed inference failed: %w", err)
		}
		d = append(d, float64(time.Since(start).Nanoseconds())/1e6)
	}
	return latencyOf(d, opts.Warmup), nil
}

// latencyOf computes nearest-rank percentiles of durations in ms.
func latencyOf(d []float64, warmup int) *Latency {
	slices.Sort(d)
	return &Latency{Runs: len(d), Warmup: warmup, P50Ms: Percentile(d, 50), P95Ms: Percentile(d, 95), P99Ms: Percentile(d, 99)}
}

// Percentile is the nearest-rank p-th percentile of sorted values.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// evaluate runs the evaluation set through the model in batches.
func evaluate(ctx context.Context, sess *inference.Session, files []EvalFile, batch int) (*Evaluation, error) {
	set, err := ParseEval(files)
	if err != nil {
		return nil, err
	}
	ins, outs := sess.Inputs(), sess.Outputs()
	if len(ins) != 1 || ins[0].DType != "float32" || len(ins[0].Shape) != 2 {
		return nil, errors.New("evaluation needs a model with one float32 input of shape [batch, features]")
	}
	in := ins[0]
	if f := in.Shape[1]; f >= 0 && f != int64(len(set.Features)) {
		return nil, fmt.Errorf("%s has %d feature columns, the input %q takes %d", set.Files[0], len(set.Features), in.Name, f)
	}
	if len(outs) < 1 || outs[0].DType != "float32" || len(outs[0].Shape) != 2 {
		return nil, errors.New("evaluation needs a model whose first output is float32 of shape [batch, classes] (or [batch, 1] for a regression)")
	}
	if in.Shape[0] > 0 {
		batch = int(in.Shape[0]) // a fixed batch size: pad the last batch
	}
	nf := len(set.Features)
	var pred [][]float32
	for start := 0; start < len(set.X); start += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+batch, len(set.X))
		rows := end - start
		if in.Shape[0] > 0 {
			rows = batch
		}
		x := make([]float32, rows*nf)
		for i := start; i < end; i++ {
			copy(x[(i-start)*nf:], set.X[i])
		}
		res, err := sess.Run([]inference.Tensor{{Name: in.Name, DType: "float32", Shape: []int64{int64(rows), int64(nf)}, Float32: x}})
		if err != nil {
			return nil, fmt.Errorf("inference on examples %d-%d failed: %w", start+1, end, err)
		}
		out := res[0]
		if out.DType != "float32" || len(out.Shape) != 2 || out.Shape[0] != int64(rows) || out.Shape[1] < 1 || int64(len(out.Float32)) != out.Shape[0]*out.Shape[1] {
			return nil, fmt.Errorf("output %q has shape %v, want [%d, classes]", out.Name, out.Shape, rows)
		}
		c := int(out.Shape[1])
		for i := range end - start {
			pred = append(pred, out.Float32[i*c:(i+1)*c])
		}
	}
	ev := &Evaluation{Files: set.Files, Examples: len(pred)}
	if c := len(pred[0]); c == 1 {
		ev.Task = "regression"
		targets, err := set.targets()
		if err != nil {
			return nil, err
		}
		p := make([]float64, len(pred))
		for i := range pred {
			p[i] = float64(pred[i][0])
		}
		mae := MAE(targets, p)
		ev.MAE = &mae
		return ev, nil
	}
	ev.Task = "classification"
	labels, err := set.classIndices(len(pred[0]))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(set.Files, ", "), err)
	}
	p := make([]int, len(pred))
	for i := range pred {
		p[i] = Argmax(pred[i])
		if p[i] == labels[i] {
			ev.Correct++
		}
	}
	acc, f1 := Accuracy(labels, p), MacroF1(labels, p)
	ev.Accuracy, ev.F1 = &acc, &f1
	return ev, nil
}

func strconvFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
