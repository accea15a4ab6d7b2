package cli

import (
	"context"
	"os"
	"slices"
	"strings"

	"github.com/marina-dev/marina/internal/forge"
	"github.com/marina-dev/marina/internal/repo"
)

// checkForgeName refuses a --forge marina does not talk to, for flag (--pr, --post-status), before anything is
// done.
func checkForgeName(name, flag string) error {
	if !slices.Contains(forge.Names, name) {
		return usagef("--forge %q (for %s): use one of %s", name, flag, strings.Join(forge.Names, ", "))
	}
	return nil
}

// needForgeToken checks that MARINA_GIT_TOKEN holds the forge's API token (repo.Redact keeps it out of every
// message); a missing one is a usage error saying what flag needs it.
func needForgeToken(flag, also string) error {
	if os.Getenv(tokenEnv) == "" {
		return usagef("%s needs a token of the forge's API in %s%s", flag, tokenEnv, also)
	}
	return nil
}

// connectForge connects to the forge called name hosting remote's first URL (an HTTP(S) clone URL) with the
// token of MARINA_GIT_TOKEN. A remote that names no forge, or a forge that cannot be reached, is a usage error.
func connectForge(ctx context.Context, r *repo.Repo, remote, name string) (forge.Forge, error) {
	rem, err := r.Git().Remote(remote)
	if err != nil {
		return nil, usagef("--remote %q: %v (add it with git remote add, or pass --remote)", remote, err)
	}
	var remoteURL string
	if urls := rem.Config().URLs; len(urls) > 0 {
		remoteURL = urls[0]
	}
	if _, err := forge.ParseRepoURL(remoteURL); err != nil {
		return nil, usagef("--remote %s: %v", remote, err)
	}
	// Connecting asks the forge its version: an unreachable forge is found before anything is done.
	f, err := forge.New(ctx, name, remoteURL, os.Getenv(tokenEnv), forge.Options{})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return f, nil
}
