//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/forge"
)

// TestPromotePROpensOnePullRequestOnGiteaAndFindsItAgain: the example repository, pushed to a real Gitea by its
// bot, registers iris-classifier 1.1.0; `marina promote iris-classifier@1.1.0 --env staging --pr` with the bot's
// token pushes marina/promote/iris-classifier-staging-v1.1.0 and opens one pull request into main whose
// description is marina ci's summary of the promotion, labelled, the admin asked to review it. Run again, it
// finds that pull request (-o json says so) rather than opening a second. The token is in no output. Package
// forge then posts a commit status on the head and reads the pull request back open, and merged once the admin
// merges it; promote --pr run after the merge says so and opens nothing.
func TestPromotePROpensOnePullRequestOnGiteaAndFindsItAgain(t *testing.T) {
	m := newGiteaRepo(t)
	g, git := m.g, m.git
	m.register(t, "1.1.0", "0.985")
	m.push()
	run := func(extraEnv []string, args ...string) (int, string, string) {
		t.Helper()
		return m.marina(t, extraEnv, args...)
	}
	mainHead := git("rev-parse", "main")

	const branch = "marina/promote/iris-classifier-staging-v1.1.0"
	promote := []string{"promote", "iris-classifier@1.1.0", "--env", "staging", "--pr", "--labels", "promotion,staging", "--reviewers", g.Admin.Name}
	// The token alone, as a user sets it: Gitea takes it as basic auth's password with marina's default username.
	token := []string{"MARINA_GIT_TOKEN=" + g.Bot.Token}

	if code, out, errOut := run([]string{"MARINA_GIT_TOKEN="}, promote...); code != 2 || !strings.Contains(errOut, "MARINA_GIT_TOKEN") {
		t.Fatalf("without a token: exit %d, want 2 naming MARINA_GIT_TOKEN\n%s%s", code, out, errOut)
	}
	if got := git("branch", "--list", branch); got != "" || git("rev-parse", "main") != mainHead {
		t.Fatalf("without a token something was committed: branch %q, main %s", got, git("rev-parse", "main"))
	}

	code, out, errOut := run(token, promote...)
	if code != 0 {
		t.Fatalf("promote --pr: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("marina %s:\n%s%s", strings.Join(promote, " "), out, errOut)
	if !strings.Contains(out, "promoted iris-classifier in staging: 1.0.0 → 1.1.0") || !strings.Contains(out, "opened pull request #") ||
		!strings.Contains(out, g.URL+"/"+m.fullName+"/pulls/") {
		t.Errorf("promote --pr printed:\n%s%s", out, errOut)
	}
	head := git("rev-parse", branch)
	if remote := git("ls-remote", "origin", "refs/heads/"+branch); !strings.HasPrefix(remote, head) {
		t.Fatalf("origin's %s: %q, want %s", branch, remote, head)
	}
	if git("rev-parse", "HEAD") != mainHead {
		t.Error("the current branch moved")
	}

	type giteaPR struct {
		Number int64
		State  string
		Title  string
		Body   string
		URL    string `json:"html_url"`
		Head   struct{ Ref, Sha string }
		Base   struct{ Ref string }
		Labels []struct{ Name string }
		// RequestedReviewers are the users asked for a review.
		RequestedReviewers []struct{ Login string } `json:"requested_reviewers"`
	}
	openPRs := func() []giteaPR {
		t.Helper()
		var prs []giteaPR
		giteaAPI(t, g.URL, g.Bot.Token, http.MethodGet, "/repos/"+m.fullName+"/pulls?state=open", nil, http.StatusOK, &prs)
		return prs
	}
	prs := openPRs()
	if len(prs) != 1 {
		t.Fatalf("%d open pull requests, want 1: %+v", len(prs), prs)
	}
	pr := prs[0]
	if pr.Head.Ref != branch || pr.Head.Sha != head || pr.Base.Ref != "main" || pr.Title != "promote: iris-classifier 1.0.0 → 1.1.0 in staging" {
		t.Errorf("pull request #%d: %s from %s (%s) into %s, want %s at %s into main", pr.Number, pr.Title, pr.Head.Ref, pr.Head.Sha, pr.Base.Ref, branch, head)
	}
	for _, want := range []string{"marina ci", "| `iris-classifier` | `staging` | 1.0.0 → 1.1.0 |", "### Quality gates", "`accuracy.min`",
		"### `iris-classifier` in `staging`", "| digest | `sha256:", "From `1.0.0` to `1.1.0`:", "- accuracy "} {
		if !strings.Contains(pr.Body, want) {
			t.Errorf("pull request #%d's description lacks %q:\n%s", pr.Number, want, pr.Body)
		}
	}
	if strings.Contains(pr.Body, g.Bot.Token) {
		t.Error("the pull request's description carries the token")
	}
	var labels []string
	for _, l := range pr.Labels {
		labels = append(labels, l.Name)
	}
	slices.Sort(labels)
	if !slices.Equal(labels, []string{"promotion", "staging"}) {
		t.Errorf("labels %v, want promotion and staging", labels)
	}
	if !strings.Contains(out, pr.URL) {
		t.Errorf("promote --pr printed no %s:\n%s", pr.URL, out)
	}
	if len(pr.RequestedReviewers) != 1 || pr.RequestedReviewers[0].Login != g.Admin.Name {
		t.Errorf("reviewers asked %+v, want %s", pr.RequestedReviewers, g.Admin.Name)
	}

	// Again, as data: the same pull request, found, its description (edited meanwhile) the summary again.
	prPath := "/repos/" + m.fullName + "/pulls/" + strconv.FormatInt(pr.Number, 10)
	giteaAPI(t, g.URL, g.Bot.Token, http.MethodPatch, prPath, map[string]any{"body": "edited by hand"}, http.StatusCreated, nil)
	code, out, errOut = run(token, append(promote, "-o", "json")...)
	if code != 0 {
		t.Fatalf("promote --pr again: exit %d\n%s%s", code, out, errOut)
	}
	var again struct {
		Model, Environment, From, To, Commit, Branch, Base string
		Opened                                             bool
		PullRequest                                        struct {
			Number int64
			URL    string
			State  string
			Head   string
			Base   string
		}
	}
	if err := json.Unmarshal([]byte(out), &again); err != nil {
		t.Fatalf("promote --pr -o json: %v\n%s", err, out)
	}
	if again.Opened || again.PullRequest.Number != pr.Number || again.PullRequest.URL != pr.URL || again.PullRequest.State != "open" ||
		again.Branch != branch || again.Base != "main" || again.Commit != head || again.From != "1.0.0" || again.To != "1.1.0" {
		t.Errorf("promote --pr again: %+v, want #%d found open at %s", again, pr.Number, pr.URL)
	}
	if prs := openPRs(); len(prs) != 1 || prs[0].Number != pr.Number {
		t.Errorf("after the second run: %+v, want #%d alone", prs, pr.Number)
	} else if prs[0].Body != pr.Body {
		t.Errorf("after the second run, #%d's description is\n%s\nwant the summary again:\n%s", pr.Number, prs[0].Body, pr.Body)
	}
	if git("rev-parse", branch) != head {
		t.Error("the second run moved the branch")
	}

	// Package forge: a commit status on the head, the pull request's state before and after the admin merges it.
	ctx := context.Background()
	f, err := forge.New(ctx, "gitea", m.cloneURL, g.Bot.Token, forge.Options{Username: g.Bot.Name})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetStatus(ctx, head, forge.Status{Context: "marina/ci", State: "success", Description: "gates 3/3 passed",
		TargetURL: "http://marina.test/models/iris-classifier"}); err != nil {
		t.Fatal(err)
	}
	var status struct {
		State    string
		Statuses []struct{ Context, Description string }
	}
	giteaAPI(t, g.URL, g.Bot.Token, http.MethodGet, "/repos/"+m.fullName+"/commits/"+head+"/status", nil, http.StatusOK, &status)
	if status.State != "success" || len(status.Statuses) != 1 || status.Statuses[0].Context != "marina/ci" {
		t.Errorf("combined status of %s: %+v, want success from marina/ci", head, status)
	}
	if got, err := f.Find(ctx, branch, "main"); err != nil || got == nil || got.Number != pr.Number || got.HeadSHA != head {
		t.Errorf("Find: %+v, %v; want #%d at %s", got, err, pr.Number, head)
	}
	if got, err := f.Find(ctx, branch, "prod"); err != nil || got != nil {
		t.Errorf("Find into another base: %+v, %v; want none", got, err)
	}
	giteaAPI(t, g.URL, g.Admin.Token, http.MethodPost, prPath+"/merge",
		map[string]any{"Do": "merge"}, http.StatusOK, nil)
	if got, err := f.Get(ctx, pr.Number); err != nil || got.State != forge.Merged || got.URL != pr.URL {
		t.Errorf("Get after the merge: %+v, %v; want merged", got, err)
	}
	if got, err := f.Find(ctx, branch, "main"); err != nil || got != nil {
		t.Errorf("Find after the merge: %+v, %v; want none open", got, err)
	}
	// Run once more after the merge: the merged pull request, not an empty second one.
	code, out, errOut = run(token, promote...)
	if code != 0 || !strings.Contains(out, "pull request #"+strconv.FormatInt(pr.Number, 10)+" from "+branch+" into main is merged already: "+pr.URL) {
		t.Errorf("promote --pr after the merge: exit %d, want the merged #%d\n%s%s", code, pr.Number, out, errOut)
	}
	if prs := openPRs(); len(prs) != 0 {
		t.Errorf("after the merge, promote --pr opened %+v", prs)
	}
}

// TestPromotePRMakesTheBranchAgainWhenItsBaseMovesAndClosesItOnceTheBaseHoldsIt: a promotion's pull request on
// a real Gitea whose base, main, moves on is made again on main's head by the next promote --pr — run where the
// branch exists only on the forge, as a CI job's fresh clone has it — and pushed in place of the old branch: the
// same pull request, its head the new commit. Once main deploys the version by another way, promote --pr closes
// the pull request with a comment saying why.
func TestPromotePRMakesTheBranchAgainWhenItsBaseMovesAndClosesItOnceTheBaseHoldsIt(t *testing.T) {
	m := newGiteaModels(t)
	g, git := m.g, m.git
	const branch = "marina/promote/iris-classifier-staging-v1.1.0"
	promote := []string{"promote", "iris-classifier@1.1.0", "--env", "staging", "--pr"}
	if code, out, errOut := m.marina(t, m.token(), promote...); code != 0 {
		t.Fatalf("promote --pr: exit %d\n%s%s", code, out, errOut)
	}
	first := git("rev-parse", branch)
	type giteaPR struct {
		Number int64
		State  string
		Head   struct{ Sha string }
	}
	pulls := func(state string) []giteaPR {
		t.Helper()
		var prs []giteaPR
		giteaAPI(t, g.URL, g.Bot.Token, http.MethodGet, "/repos/"+m.fullName+"/pulls?state="+state, nil, http.StatusOK, &prs)
		return prs
	}
	prs := pulls("open")
	if len(prs) != 1 || prs[0].Head.Sha != first {
		t.Fatalf("open pull requests %+v, want one at %s", prs, first)
	}
	number := prs[0].Number

	// main moves on; the branch is left only on the forge.
	git("commit", "-q", "--allow-empty", "-m", "an unrelated change")
	git("push", "-q", "origin", "main")
	git("branch", "-q", "-D", branch)
	moved := git("rev-parse", "main")
	code, out, errOut := m.marina(t, m.token(), promote...)
	if code != 0 || !strings.Contains(out, "in place of "+first[:12]+", as main had moved on") ||
		!strings.Contains(out, "pull request #"+strconv.FormatInt(number, 10)+" from "+branch+" into main is already open") {
		t.Fatalf("promote --pr after main moved: exit %d, want the branch made again and #%d found\n%s%s", code, number, out, errOut)
	}
	again := git("rev-parse", branch)
	if again == first || git("rev-parse", branch+"^") != moved {
		t.Errorf("the branch is at %s (parent %s), want a new commit on main's head %s", again, git("rev-parse", branch+"^"), moved)
	}
	if remote := git("ls-remote", "origin", "refs/heads/"+branch); !strings.HasPrefix(remote, again) {
		t.Errorf("origin's %s: %q, want %s", branch, remote, again)
	}
	if prs := pulls("open"); len(prs) != 1 || prs[0].Number != number || prs[0].Head.Sha != again {
		t.Errorf("open pull requests %+v, want #%d alone at %s", prs, number, again)
	}

	// main deploys 1.1.0 in staging by a direct promotion: the pull request no longer changes anything.
	if code, out, errOut := m.marina(t, m.token(), "promote", "iris-classifier@1.1.0", "--env", "staging", "--push"); code != 0 {
		t.Fatalf("promote --push on main: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = m.marina(t, m.token(), promote...)
	if code != 0 || !strings.Contains(out, "iris-classifier already runs 1.1.0 in staging on main: nothing to promote; closed pull request #"+strconv.FormatInt(number, 10)) {
		t.Fatalf("promote --pr once main holds it: exit %d, want #%d closed\n%s%s", code, number, out, errOut)
	}
	if prs := pulls("open"); len(prs) != 0 {
		t.Errorf("open pull requests %+v, want none", prs)
	}
	var comments []struct{ Body string }
	giteaAPI(t, g.URL, g.Bot.Token, http.MethodGet, "/repos/"+m.fullName+"/issues/"+strconv.FormatInt(number, 10)+"/comments", nil, http.StatusOK, &comments)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "main already deploys iris-classifier 1.1.0 in staging, so this pull request") {
		t.Errorf("comments on #%d: %+v, want one saying why it was closed", number, comments)
	}
}
