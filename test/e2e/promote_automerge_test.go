//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPromoteAutoMergeMergesOnceChecksAndApprovalsAllowOnGitea runs promote --pr --auto-merge against a real
// Gitea. Staging: before marina ci's status is on the head it waits for it (--wait 0: exit 1 at once); once
// marina ci --post-status posted success there, it merges the pull request (-o json reads merged) into main.
// Prod with --approvals 1: it times out (exit 1) saying it waits for an approval until the admin approves, then
// the same command merges. A promotion below the accuracy gate (forced) whose marina ci posted failure is not
// merged: exit 1 at once naming marina/ci and the gate, the pull request left open. No output carries a token.
func TestPromoteAutoMergeMergesOnceChecksAndApprovalsAllowOnGitea(t *testing.T) {
	m := newGiteaModels(t)
	type result struct {
		Merged      bool
		PullRequest struct {
			Number  int64
			State   string
			HeadSHA string
		}
	}
	promote := func(version, env string, extra ...string) (int, string, string) {
		t.Helper()
		args := append([]string{"promote", "iris-classifier@" + version, "--env", env, "--pr", "--auto-merge"}, extra...)
		code, out, errOut := m.marina(t, m.token(), args...)
		t.Logf("marina %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		return code, out, errOut
	}
	// ci runs marina ci --post-status on branch, as the pull request's CI does, and comes back to main.
	ci := func(branch string, want int) {
		t.Helper()
		m.git("checkout", "-q", branch)
		defer m.git("checkout", "-q", "main")
		if code, out, errOut := m.marina(t, m.token(), "ci", "--base", "main", "--post-status"); code != want {
			t.Fatalf("ci --post-status on %s: exit %d, want %d\n%s%s", branch, code, want, out, errOut)
		}
	}
	pullMain := func() {
		t.Helper()
		m.git("pull", "-q", "--ff-only", "origin", "main")
	}
	merged := func(out string) result {
		t.Helper()
		var r result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("-o json: %v\n%s", err, out)
		}
		if !r.Merged || r.PullRequest.State != "merged" {
			t.Fatalf("-o json: %+v, want the pull request merged", r)
		}
		m.git("fetch", "-q", "origin", "main")
		m.git("merge-base", "--is-ancestor", r.PullRequest.HeadSHA, "origin/main") // fails the test unless merged
		return r
	}

	// Staging: marina ci's success is what it waits for.
	const staging = "marina/promote/iris-classifier-staging-v1.1.0"
	if code, out, errOut := promote("1.1.0", "staging", "--wait", "0"); code != 1 ||
		!strings.Contains(errOut, "waits for the check marina/ci (not posted") || !strings.Contains(out+errOut, "pull request #") {
		t.Fatalf("--auto-merge before marina ci ran: exit %d, want 1 waiting for marina/ci\n%s%s", code, out, errOut)
	}
	ci(staging, 0)
	code, out, errOut := promote("1.1.0", "staging", "-o", "json")
	if code != 0 {
		t.Fatalf("--auto-merge after marina ci passed: exit %d\n%s%s", code, out, errOut)
	}
	merged(out)
	pullMain()

	// Prod: one approving review needed; the bot cannot approve its own pull request, the admin does.
	const prod = "marina/promote/iris-classifier-prod-v1.1.0"
	if code, out, errOut := promote("1.1.0", "prod", "--approvals", "1", "--wait", "0"); code != 1 {
		t.Fatalf("prod --auto-merge: exit %d, want 1\n%s%s", code, out, errOut)
	}
	ci(prod, 0)
	start := time.Now()
	code, out, errOut = promote("1.1.0", "prod", "--approvals", "1", "--wait", "3s")
	if code != 1 || !strings.Contains(errOut, "waits for an approval: 0 of 1 approving reviews") || strings.Contains(errOut, "marina/ci") {
		t.Fatalf("prod --auto-merge --approvals 1 without one: exit %d, want 1 waiting for an approval alone\n%s%s", code, out, errOut)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("gave up after %s, before --wait 3s", d)
	}
	var prs []struct {
		Number int64
		Head   struct{ Ref string }
	}
	giteaAPI(t, m.g.URL, m.g.Bot.Token, http.MethodGet, "/repos/"+m.fullName+"/pulls?state=open", nil, http.StatusOK, &prs)
	if len(prs) != 1 || prs[0].Head.Ref != prod {
		t.Fatalf("open pull requests %+v, want the prod promotion's alone", prs)
	}
	giteaAPI(t, m.g.URL, m.g.Admin.Token, http.MethodPost, "/repos/"+m.fullName+"/pulls/"+strconv.FormatInt(prs[0].Number, 10)+"/reviews",
		map[string]any{"event": "APPROVED", "body": "ship it"}, http.StatusOK, nil)
	code, out, errOut = promote("1.1.0", "prod", "--approvals", "1")
	if want := "merged pull request #" + strconv.FormatInt(prs[0].Number, 10) + " into main: its checks passed and it has an approving review"; code != 0 || !strings.Contains(out, want) ||
		!strings.Contains(out, "is already open") || strings.Contains(out, "merged already") {
		t.Fatalf("prod --auto-merge once approved: exit %d, want %q\n%s%s", code, want, out, errOut)
	}
	m.git("fetch", "-q", "origin", "main")
	m.git("merge-base", "--is-ancestor", m.git("rev-parse", prod), "origin/main") // fails the test unless merged
	pullMain()
	// Run again: merged already, which is success.
	if code, out, errOut := promote("1.1.0", "prod", "--approvals", "1"); code != 0 || !strings.Contains(out, "is merged already") {
		t.Errorf("prod --auto-merge after the merge: exit %d, want 0 saying it is merged\n%s%s", code, out, errOut)
	}

	// A failed marina ci blocks the merge at once, whatever is left of --wait.
	const bad = "marina/promote/iris-classifier-staging-v1.2.0"
	if code, out, errOut := m.marina(t, m.token(), "promote", "iris-classifier@1.2.0", "--env", "staging", "--pr", "--force"); code != 0 {
		t.Fatalf("promote 1.2.0 --pr --force: exit %d\n%s%s", code, out, errOut)
	}
	ci(bad, 1)
	start = time.Now()
	code, out, errOut = promote("1.2.0", "staging", "--force", "--wait", "5m")
	if code != 1 || !strings.Contains(errOut, "the check marina/ci on its head") ||
		!strings.Contains(errOut, "is failure: iris-classifier@1.2.0 accuracy.min: accuracy 0.5 is below the minimum") {
		t.Fatalf("--auto-merge of a failed promotion: exit %d, want 1 naming marina/ci's failure\n%s%s", code, out, errOut)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("a failed check took %s to end the wait", d)
	}
	giteaAPI(t, m.g.URL, m.g.Bot.Token, http.MethodGet, "/repos/"+m.fullName+"/pulls?state=open", nil, http.StatusOK, &prs)
	if len(prs) != 1 || prs[0].Head.Ref != bad {
		t.Errorf("open pull requests %+v, want the failed promotion's left open", prs)
	}
}
