package controller

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/marina-dev/marina/api/v1alpha1"
	"github.com/marina-dev/marina/internal/render"
	"github.com/marina-dev/marina/internal/writeback"
)

// ErrNothingToWrite wraps a write-back that must not be retried: Git holds something newer, or a pull-request
// branch already exists without the revert. A human decides.
var ErrNothingToWrite = errors.New("not written")

// GitWriteBack writes reverts with package writeback, from clones cached under WorkDir.
type GitWriteBack struct {
	WorkDir string
	// Author signs the commits; writeback's default when empty.
	Author string
}

// WriteBack implements GitWriter.
func (w *GitWriteBack) WriteBack(ctx context.Context, md *v1alpha1.ModelDeployment, secret *corev1.Secret) (string, error) {
	wb := md.Spec.GitWriteBack
	env := md.Labels[render.LabelEnvironment]
	if env == "" {
		return "", fmt.Errorf("%w: the ModelDeployment has no %s label naming its environment (marina render sets it)", ErrNothingToWrite, render.LabelEnvironment)
	}
	req := writeback.Request{
		RepoURL: wb.Repo, Branch: wb.Branch, Mode: wb.Mode,
		Model: md.Spec.Model, Env: env, BadVersion: md.Status.CanaryVersion, StableVersion: md.Status.StableVersion,
		Reason: md.Status.AbortMessage, Author: w.Author,
	}
	if secret != nil {
		var err error
		if req.Auth, err = writeback.CredentialsFromSecret(secret); err != nil {
			return "", fmt.Errorf("%w: Secret %s: %w", ErrNothingToWrite, secret.Name, err)
		}
	}
	res, err := writeback.Write(ctx, req, w.WorkDir)
	switch {
	case errors.Is(err, writeback.ErrSuperseded), errors.Is(err, writeback.ErrBranchExists):
		return "", fmt.Errorf("%w: %w", ErrNothingToWrite, err)
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
