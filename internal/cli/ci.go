package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/check"
	"github.com/marina-dev/marina/internal/ci"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo"
)

// ciFormats are the stdout formats of marina ci.
var ciFormats = []string{"text", "markdown", "json"}

type ciOptions struct {
	*globalOptions
	checkOptions
	base     string
	sarif    string
	junit    string
	markdown string
	builds   string
	uiURL    string
	checks   string
	runs     int
	warmup   int
	// postStatus, forge and remote post the outcome as a commit status (ci_status.go).
	postStatus bool
	forge      string
	remote     string

	format string // resolved from -o by Validate
}

func (o *ciOptions) AddFlags(fs *pflag.FlagSet) {
	o.checkOptions.AddFlags(fs)
	fs.StringVar(&o.base, "base", "", "revision to compare HEAD with: a branch, tag, origin/main or commit (default: the merge base with marina.yaml's branch, else HEAD~1)")
	fs.StringVar(&o.sarif, "sarif", "", "also write validate's findings as SARIF 2.1.0 to this file (for code scanning)")
	fs.StringVar(&o.junit, "junit", "", "also write JUnit XML to this file: validate's findings, the gates, the model checks and the rendered-output check")
	fs.StringVar(&o.markdown, "markdown", "", "also append the Markdown summary to this file (e.g. \"$GITHUB_STEP_SUMMARY\")")
	fs.StringVar(&o.checks, "checks", ci.ChecksAuto, "run the model checks of the changed ONNX versions in ONNX Runtime, their measured metrics feeding the gates: auto (when ONNX Runtime is installed), on (a missing ONNX Runtime is an error) or off")
	fs.IntVar(&o.runs, "runs", 50, "model checks: timed inferences for the latency percentiles")
	fs.IntVar(&o.warmup, "warmup", 5, "model checks: untimed inferences before the timed ones")
	fs.StringVar(&o.uiURL, "ui-url", "", "base URL of marina ui (e.g. http://127.0.0.1:8089): the Markdown summary links each model to its page there and to the matrix (default marina.yaml's spec.ui.url)")
	fs.BoolVar(&o.postStatus, "post-status", false, "also post the outcome as the commit status "+ciStatusContext+" on HEAD's commit on the forge hosting --remote (success, failure, or error when ci could not run; token in $MARINA_GIT_TOKEN)")
	fs.StringVar(&o.forge, "forge", "", forgeFlagUsage("--post-status"))
	fs.StringVar(&o.remote, "remote", "origin", "the remote whose forge --post-status posts to")
	fs.StringVar(&o.builds, "builds", "", "also write the serving images to build to this file: one line per version, NAME@VERSION<TAB>ARTIFACT")
}

func (o *ciOptions) Validate() error {
	var err error
	if o.format, err = resolveFormat("ci", o.output, ciFormats); err != nil {
		return err
	}
	if !slices.Contains(ci.ChecksModes, o.checks) {
		return usagef("--checks must be one of %s, not %q", strings.Join(ci.ChecksModes, ", "), o.checks)
	}
	if o.runs < 1 {
		return usagef("--runs must be at least 1, not %d", o.runs)
	}
	if o.warmup < 0 {
		return usagef("--warmup must be 0 or more, not %d", o.warmup)
	}
	if o.uiURL != "" {
		u, err := ci.ParseUIURL(o.uiURL)
		if err != nil {
			return usagef("--ui-url %q: %v", o.uiURL, err)
		}
		o.uiURL = u
	}
	if err := o.validateStatus(); err != nil {
		return err
	}
	return o.checkOptions.Validate()
}

func (o *ciOptions) Run(ctx context.Context) error {
	r, err := o.openRepo()
	if err != nil {
		return err
	}
	defer r.Close()
	post, err := o.statusPoster(ctx, r)
	if err != nil {
		return err
	}
	res, err := ci.Run(ctx, r, ci.Options{Base: o.base, CRDDirs: o.crds, Concurrency: o.concurrency,
		Checks: o.checks, Check: check.Options{Runs: o.runs, Warmup: checkWarmup(o.warmup)}})
	if err != nil {
		if errors.Is(err, ci.ErrBase) {
			err = usagef("--base: %v", err)
		} else if isCheckedWrong(err) {
			err = failed(err) // a bad repository file (too large, invalid) is exit 1 like in validate
		} else {
			err = usagef("%v", err)
		}
		return post.couldNotRun(ctx, err)
	}
	tool := marinaTool()
	md := markdownOptions(r, o.uiURL)
	files := []struct {
		name, flag string
		write      func(*bytes.Buffer) error
		append     bool
	}{
		{o.sarif, "--sarif", func(b *bytes.Buffer) error { return ci.WriteSARIF(b, res, tool) }, false},
		{o.junit, "--junit", func(b *bytes.Buffer) error { return ci.WriteJUnit(b, res) }, false},
		{o.markdown, "--markdown", func(b *bytes.Buffer) error { return ci.WriteMarkdownWith(b, res, md) }, true},
		{o.builds, "--builds", func(b *bytes.Buffer) error { return ci.WriteBuilds(b, res) }, false},
	}
	for _, f := range files {
		if f.name == "" {
			continue
		}
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			return err
		}
		if err := writeReport(f.name, b.Bytes(), f.append); err != nil {
			return usagef("%s: %v", f.flag, err)
		}
	}
	switch o.format {
	case "markdown":
		err = ci.WriteMarkdownWith(o.out, res, md)
	case "json":
		err = ci.WriteJSON(o.out, res)
	default:
		err = ci.WriteText(o.out, res)
	}
	if err != nil {
		return err
	}
	if res.ChecksSkipped != "" {
		// Also on stderr: a summary nobody opens must not be the only place that says nothing was measured.
		fmt.Fprintf(o.errOut, "warning: %s\n", res.ChecksSkipped)
	}
	if err := post.outcome(ctx, res, md.UIURL); err != nil {
		return err
	}
	if !res.Passed {
		return failedf("marina ci failed: %s", strings.Join(res.Reasons(), "; "))
	}
	return nil
}

// markdownOptions are the Markdown summary's options: links to marina ui at uiURL, else at marina.yaml's
// spec.ui.url.
func markdownOptions(r *repo.Repo, uiURL string) ci.MarkdownOptions {
	md := ci.MarkdownOptions{UIURL: uiURL}
	if p, err := project.Load(r); md.UIURL == "" && err == nil && p.Spec.UI != nil {
		// A URL the schema refuses is one of validate's findings, in the summary.
		md.UIURL, _ = ci.ParseUIURL(p.Spec.UI.URL)
	}
	return md
}

// writeReport writes (or appends to) a report file.
func writeReport(name string, data []byte, appendTo bool) error {
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendTo {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(name, flags, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newCICommand(g *globalOptions) *cobra.Command {
	o := &ciOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "ci [--base REF] [--checks auto|on|off] [--runs N] [--warmup W] [-o text|markdown|json] [--sarif FILE] [--junit FILE] [--markdown FILE] [--post-status] [--crds DIR]...",
		Short: "Check a change to the model repository in CI: changes, validation, rendered output, model checks, quality gates",
		Long: `ci is what a pull request (or a push) to the model repository runs:

  1. change detection: HEAD's commit is compared with --base (default: the merge
     base with marina.yaml's spec.repository.branch, origin/<branch> first; on that
     branch itself, HEAD~1; on the first commit, everything). It lists the changed
     models and registered versions, the applications and environments whose
     deployment changed (version or settings in model.yaml, or rendered files), and
     whether infrastructure/, gitops/, CI files or marina.yaml changed; a change to
     marina.yaml puts everything in scope. Only commits are compared: uncommitted
     changes in the work tree are not part of the change (commit them first).
  2. marina validate on the whole repository. Every error fails the run, also in
     files the change did not touch, so a broken main branch cannot stay broken.
  3. the rendered-output check: applications/<model>/<env>/ of the changed models
     and environments must be what marina render --write produces.
  4. the quality gates of marina.yaml (spec.gates) for every version the change
     deploys to an environment or registers: accuracy.min, accuracy.maxRegression
     (against the version deployed in the last environment) and latencyP95Ms.max,
     read from the metrics recorded in models/<model>/v<version>.json. A gate
     whose metric is not recorded fails.
  5. model checks (--checks, default auto): each of those versions that is an ONNX
     model whose artifact is a file in the repository is run in ONNX Runtime as
     marina model check does: digest, load, signature, smoke inference, latency
     (--warmup untimed runs, then p50/p95/p99 over --runs timed runs) and the
     evaluation set of models/<model>/eval/. The measured metrics replace the
     recorded ones in the gates; a failed step (digest or signature mismatch, load
     failure) fails the run. Artifacts elsewhere (s3://, oci://) are not checked:
     their gates read the recorded metrics. With auto and no ONNX Runtime (not
     installed, or a marina built without cgo, which cannot load it) the summary and
     a warning on stderr say the checks were skipped; with on that is an error
     (exit 2); off never runs them.

The summary goes to stdout (-o text, -o markdown for a pull request comment, -o json);
--sarif, --junit and --markdown also write files. Exit 1 when a gate fails, the rendered
output is stale, a model check or validate finds errors; 2 on usage or environment errors
(an unknown --base, a shallow clone without the base commit, --checks on without ONNX
Runtime).

--post-status also posts the outcome as the commit status marina/ci on HEAD's commit,
on the forge hosting --remote's HTTP(S) URL (--forge gitea, github or gitlab; by default
the one the remote's host names), with the token in MARINA_GIT_TOKEN, which is never
printed: success or
failure, the headline as its description (the first failure's reason, cut to 140
characters), and a link to the model's page in marina ui when marina.yaml sets
spec.ui.url (or --ui-url). When ci itself cannot run (an unknown --base, an unreadable
repository) the state is error. marina promote --pr --auto-merge merges a promotion
once this status, and the others on its head, are success.`,
		Example: `  # A pull request against main (CI checkouts need the history: fetch-depth: 0)
  marina ci --base origin/main

  # GitHub Actions: a job summary and code scanning
  marina ci --base "origin/$GITHUB_BASE_REF" --markdown "$GITHUB_STEP_SUMMARY" --sarif marina.sarif

  # GitLab: a JUnit test report
  marina ci --base "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME" --junit marina-junit.xml

  # The PR comment body
  marina ci -o markdown > comment.md

  # The outcome as the commit status marina/ci on the forge (token in MARINA_GIT_TOKEN)
  marina ci --base origin/main --post-status`,
		Args: cobra.NoArgs,
		RunE: runE(o, func([]string) {}),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
