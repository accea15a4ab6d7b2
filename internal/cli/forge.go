package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/marina-dev/marina/internal/forge"
	"github.com/marina-dev/marina/internal/repo"
)

// forgeFlagUsage is the help of --forge, for flag (--pr, --post-status).
func forgeFlagUsage(flag string) string {
	return "the forge hosting --remote, with " + flag + ": " + strings.Join(forge.Names, ", ") +
		" (default: github for github.com, gitlab for gitlab.com, else gitea; a host name with a github or gitlab label, e.g. gitlab.acme.com, picks that forge)"
}

// checkForgeName refuses a --forge marina does not talk to, for flag (--pr, --post-status), before anything is
// done; "" is the forge the remote's host names (detectForge).
func checkForgeName(name, flag string) error {
	if name != "" && !slices.Contains(forge.Names, name) {
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
	guessed := ""
	if name == "" {
		name = detectForge(remoteURL)
		guessed = fmt.Sprintf(" (marina took %s's host for %s: pass --forge if it is another forge)", remote, name)
	}
	// Connecting asks the forge its version: an unreachable forge is found before anything is done.
	f, err := forge.New(ctx, name, remoteURL, os.Getenv(tokenEnv), forge.Options{})
	if err != nil {
		return nil, usagef("%v%s", err, guessed)
	}
	return f, nil
}

// detectForge names the forge of a repository's HTTP(S) clone URL from its host: github.com and gitlab.com, a host
// with a github or gitlab label (gitlab.acme.com, github.acme.com), else gitea, the self-hosted forge marina knows.
func detectForge(repoURL string) string {
	u, err := url.Parse(repoURL)
	if err != nil {
		return "gitea"
	}
	for _, label := range strings.Split(strings.ToLower(u.Hostname()), ".") {
		if label == "github" || label == "gitlab" {
			return label
		}
	}
	return "gitea"
}
