package cli

import (
	"net/url"

	"github.com/marina-dev/marina/internal/repo"
)

// remoteLocation names --remote and where it points ("origin (https://github.com/acme/ml.git)"), for the
// line that says where a push went. Credentials in the URL are left out: it is printed to stdout, which the
// stderr filter does not cover.
func (o *branchOptions) remoteLocation(r *repo.Repo) string {
	rem, err := r.Git().Remote(o.remote)
	if err != nil || len(rem.Config().URLs) == 0 {
		return o.remote
	}
	u := rem.Config().URLs[0]
	if p, err := url.Parse(u); err == nil && p.User != nil {
		p.User = nil
		u = p.String()
	}
	return o.remote + " (" + u + ")"
}
