package writeback

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/controller"
)

var _ controller.GitWriter = (*Writer)(nil)

// Writer is marina controller's GitWriter: it writes reverts with Write, from clones cached under WorkDir.
type Writer struct {
	WorkDir string
	// Author signs the commits; writeback's default when empty.
	Author string
	// PullRequests returns the opener of the forge spec.gitWriteBack.pullRequest names, with the write-back's
	// credentials (forge.Opener). Nil, mode pr only pushes the branch.
	PullRequests func(forge string, c Credentials) (PullRequestOpener, error)
}

// WriteBack implements controller.GitWriter. In mode pr with spec.gitWriteBack.pullRequest it opens the pull
// request from the pushed branch, or finds the open one and updates its description: titled by the revert's
// subject, described by the analysis evidence (Evidence). A forge that fails leaves the branch pushed and is an
// error, so the controller retries: the next Write finds the branch holding the revert and opens the request again.
func (w *Writer) WriteBack(ctx context.Context, md *v1alpha1.ModelDeployment, secret *corev1.Secret) (string, error) {
	wb := md.Spec.GitWriteBack
	env := md.Labels[v1alpha1.LabelEnvironment]
	if env == "" {
		return "", fmt.Errorf("%w: the ModelDeployment has no %s label naming its environment (marina render sets it)", controller.ErrNothingToWrite, v1alpha1.LabelEnvironment)
	}
	req := Request{
		RepoURL: wb.Repo, Branch: wb.Branch, Mode: wb.Mode,
		Model: md.Spec.Model, Env: env, BadVersion: md.Status.CanaryVersion, StableVersion: md.Status.StableVersion,
		Reason: md.Status.AbortMessage, Author: w.Author,
	}
	if secret != nil {
		var err error
		if req.Auth, err = CredentialsFromSecret(secret); err != nil {
			return "", fmt.Errorf("%w: Secret %s: %w", controller.ErrNothingToWrite, secret.Name, err)
		}
	}
	var opener PullRequestOpener
	if wb.PullRequest != nil && w.PullRequests != nil {
		// A forge that cannot be talked to (no token, unknown) is refused once, before anything is pushed: retrying
		// would not mend it.
		var err error
		if opener, err = w.PullRequests(string(wb.PullRequest.Forge), req.Auth); err != nil {
			return "", fmt.Errorf("%w: spec.gitWriteBack.pullRequest: %w (nothing was pushed)", controller.ErrNothingToWrite, err)
		}
	}
	res, err := Write(ctx, req, w.WorkDir)
	switch {
	case errors.Is(err, ErrSuperseded), errors.Is(err, ErrBranchExists):
		return "", fmt.Errorf("%w: %w", controller.ErrNothingToWrite, err)
	case err != nil:
		return "", err
	}
	out := res.Commit
	if res.Branch != "" && res.Branch != res.Base && res.Base != "" {
		if opener == nil {
			out += " on branch " + res.Branch + " (open a pull request into " + res.Base + ")"
		} else {
			url, err := openPullRequest(ctx, opener, md, env, req, res)
			if err != nil {
				return "", redactErr(fmt.Sprintf("the revert is pushed as %s on branch %s, but its pull request into %s is not open", res.Commit, res.Branch, res.Base), err)
			}
			out += " on branch " + res.Branch + ", pull request " + url + " into " + res.Base
		}
	}
	if res.NoOp {
		out += " (already in Git)"
	}
	return out, nil
}

// openPullRequest opens (or finds) the pull request of res through opener, the forge spec.gitWriteBack.pullRequest
// names.
func openPullRequest(ctx context.Context, opener PullRequestOpener, md *v1alpha1.ModelDeployment, env string, req Request, res Result) (string, error) {
	pr := md.Spec.GitWriteBack.PullRequest
	title := res.Subject
	if title == "" {
		title = fmt.Sprintf("rollback: %s %s %s -> %s", req.Model, env, req.BadVersion, req.StableVersion)
	}
	return opener.OpenPullRequest(ctx, PullRequest{RepoURL: req.RepoURL, Head: res.Branch, Base: res.Base,
		Title: title, Body: Evidence(md, env), Labels: pr.Labels, Commit: res.Commit})
}

// maxEvidence keeps a pull request's description well inside what forges take (GitHub: 65536 characters).
const maxEvidence = 60000

// Evidence is the Markdown description of the pull request of md's write-back in env: the abort, and each
// metric of its analysis runs that did not succeed with its last measurements. It holds no time but the
// measurements', so a description written again for the same abort is the same.
func Evidence(md *v1alpha1.ModelDeployment, env string) string {
	st := md.Status
	var b strings.Builder
	fmt.Fprintf(&b, "marina controller aborted the rollout of **%s %s** in **%s** (ModelDeployment %s/%s) and sent all traffic back to %s. ",
		md.Spec.Model, st.CanaryVersion, env, md.Namespace, md.Name, st.StableVersion)
	fmt.Fprintf(&b, "Merging this pull request sets %s back to %s in Git and blocks %s; until then the GitOps engine applies %s again.\n\n",
		env, st.StableVersion, st.CanaryVersion, st.CanaryVersion)
	if st.AbortMessage != "" {
		fmt.Fprintf(&b, "**Abort:** %s\n", oneLine(st.AbortMessage))
	}
	for _, run := range st.AnalysisRuns {
		var failed []v1alpha1.AnalysisMetricStatus
		for _, m := range run.Metrics {
			if m.Phase != v1alpha1.AnalysisSuccessful && m.Phase != v1alpha1.AnalysisRunning && m.Phase != v1alpha1.AnalysisPending {
				failed = append(failed, m)
			}
		}
		if len(failed) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n### Analysis %s", run.Name)
		if run.Template != "" {
			fmt.Fprintf(&b, " (template %s)", run.Template)
		}
		fmt.Fprintf(&b, ": %s\n", run.Phase)
		for _, m := range failed {
			fmt.Fprintf(&b, "\n**%s**: %s (%d successful, %d failed, %d inconclusive, %d errors)", m.Name, m.Phase, m.Successful, m.Failed, m.Inconclusive, m.Error)
			if m.Message != "" {
				fmt.Fprintf(&b, ": %s", oneLine(m.Message))
			}
			b.WriteString("\n")
			if len(m.Measurements) == 0 {
				continue
			}
			b.WriteString("\n| measured at | phase | value | message |\n|---|---|---|---|\n")
			for _, x := range m.Measurements {
				fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", x.MeasuredAt.UTC().Format("2006-01-02T15:04:05.000Z"), x.Phase, cell(x.Value), cell(x.Message))
			}
		}
	}
	out := b.String()
	if len(out) > maxEvidence {
		out = strings.ToValidUTF8(out[:maxEvidence], "") + "…\n" // not a rune cut in two
	}
	return out
}

// oneLine is s on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cell is s in a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(oneLine(s), "|", `\|`) }
