package writeback

import (
	"context"
	"errors"
	"fmt"

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
}

// WriteBack implements controller.GitWriter.
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
	res, err := Write(ctx, req, w.WorkDir)
	switch {
	case errors.Is(err, ErrSuperseded), errors.Is(err, ErrBranchExists):
		return "", fmt.Errorf("%w: %w", controller.ErrNothingToWrite, err)
	case err != nil:
		return "", err
	}
	out := res.Commit
	if res.Branch != "" && res.Branch != res.Base && res.Base != "" {
		out += " on branch " + res.Branch + " (open a pull request into " + res.Base + ")"
	}
	if res.NoOp {
		out += " (already in Git)"
	}
	return out, nil
}
