package writeback

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	corev1 "k8s.io/api/core/v1"
)

// MirrorRequest names the branch of a remote a local clone follows.
type MirrorRequest struct {
	// RepoURL is the model repository's clone URL: https://, http://, file:// or a local path.
	RepoURL string
	// Branch is the branch followed; "" is the remote's default branch.
	Branch string
	// Auth authenticates to an HTTP(S) remote.
	Auth Credentials
}

// Mirror makes dir a clone of req's branch as the remote holds it now: created on the first call, then fetched
// and reset to the remote's head (the whole history, for marina ui's pages), dropping whatever differs locally.
// It returns the commit checked out. It takes the clone's lock (repo.Lock) while it works, as Write does, and
// serialises with other calls of this process on dir. Errors never hold the credentials.
func Mirror(ctx context.Context, req MirrorRequest, dir string) (string, error) {
	if req.RepoURL == "" {
		return "", errors.New("mirror: no repository URL")
	}
	auth, err := req.Auth.authFor(req.RepoURL)
	if err != nil {
		return "", err
	}
	req.Auth.remember(req.RepoURL)
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	r, closeClone, err := openClone(dir)
	if err != nil {
		return "", err
	}
	defer closeClone()
	w := &writer{
		req: Request{RepoURL: req.RepoURL, Branch: req.Branch}, r: r, auth: auth, mirror: true,
		remote: git.NewRemote(r.Git().Storer, &config.RemoteConfig{Name: remoteName, URLs: []string{req.RepoURL}}),
	}
	heads, branch, err := w.heads(ctx)
	if err != nil {
		return "", err
	}
	if req.Branch != "" {
		branch = req.Branch
	}
	tip, ok := heads[branch]
	if !ok {
		return "", fmt.Errorf("mirror: %s has no branch %q", safeURL(req.RepoURL), branch)
	}
	if err := w.fetch(ctx, []string{branch}); err != nil {
		return "", err
	}
	if err := w.checkout(branch, tip); err != nil {
		return "", err
	}
	return tip.String(), nil
}

// CredentialsFromDir reads credentials from the files of a mounted Secret: username and password (Flux's
// convention), or bearerToken, as CredentialsFromSecret reads the Secret's keys.
func CredentialsFromDir(dir string) (Credentials, error) {
	s := &corev1.Secret{Data: map[string][]byte{}}
	s.Name = dir
	for _, k := range []string{KeyUsername, KeyPassword, KeyBearerToken, "identity"} {
		b, err := os.ReadFile(filepath.Join(dir, k))
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return Credentials{}, fmt.Errorf("git credentials: %w", err)
		}
		s.Data[k] = b
	}
	return CredentialsFromSecret(s)
}
