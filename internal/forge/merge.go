package forge

import (
	"fmt"
	"net/http"
	"slices"
)

// CombinedStatus is a commit's statuses, the latest of each context, and their combined state.
type CombinedStatus struct {
	SHA string `json:"sha"`
	// State is success when every status is, failure or error when one is, pending otherwise (also when there
	// is no status at all).
	State    string   `json:"state"`
	Statuses []Status `json:"statuses"`
}

// Find returns the status of context, nil when the commit has none.
func (c *CombinedStatus) Find(context string) *Status {
	for i := range c.Statuses {
		if c.Statuses[i].Context == context {
			return &c.Statuses[i]
		}
	}
	return nil
}

// add appends s unless c has a status of its context already: a forge lists a commit's statuses newest first,
// so the first of a context is its latest.
func (c *CombinedStatus) add(s Status) {
	if c.Find(s.Context) == nil {
		c.Statuses = append(c.Statuses, s)
	}
}

// ReviewState is what a review of a pull request says.
type ReviewState string

// The states of a review that count: an approval, a request for changes; the others (comments) do not.
const (
	Approved         ReviewState = "approved"
	ChangesRequested ReviewState = "changes_requested"
	Commented        ReviewState = "commented"
)

// Review is one review of a pull request.
type Review struct {
	Reviewer string      `json:"reviewer"`
	State    ReviewState `json:"state"`
	// CommitID is the commit the review was given on.
	CommitID string `json:"commitID,omitempty"`
	// Stale is true when the pull request's head moved since the review; Dismissed when it was dismissed.
	Stale     bool `json:"stale,omitempty"`
	Dismissed bool `json:"dismissed,omitempty"`
}

// Approvals counts the reviewers whose latest approval or request for changes (in reviews, oldest first) is an
// approval that is neither dismissed nor stale (given on an earlier head than headSHA): what is merged is what
// they approved.
func Approvals(reviews []Review, headSHA string) int {
	latest := map[string]Review{}
	var order []string
	for _, r := range reviews {
		if r.State != Approved && r.State != ChangesRequested || r.Dismissed {
			continue
		}
		if _, ok := latest[r.Reviewer]; !ok {
			order = append(order, r.Reviewer)
		}
		latest[r.Reviewer] = r
	}
	n := 0
	for _, who := range order {
		r := latest[who]
		if r.State == Approved && !r.Stale && (r.CommitID == "" || headSHA == "" || r.CommitID == headSHA) {
			n++
		}
	}
	return n
}

// combine is the combined state of statuses: failure or error when one is (error first), success when all are
// and there is one, pending otherwise.
func combine(statuses []Status) string {
	states := make([]string, 0, len(statuses))
	for _, s := range statuses {
		states = append(states, s.State)
	}
	switch {
	case slices.Contains(states, "error"):
		return "error"
	case slices.Contains(states, "failure"):
		return "failure"
	case len(states) == 0 || slices.Contains(states, "pending"):
		return "pending"
	}
	return "success"
}

// refusal is how a forge words a refused merge: what it calls a pull request, and why one is not mergeable.
type refusal struct {
	request, notMergeable string
}

// pullRequestRefusal is how Gitea and GitHub refuse a merge: 405 when the pull request is not mergeable, 409 when
// its head moved.
var pullRequestRefusal = refusal{request: "pull request",
	notMergeable: "a conflict, a rule of the protected branch, or merge commits not allowed in the repository"}

// mergeRefused says why a forge answered a merge with the error status code: the forges agree on 401/403 (the
// token), 404 (no such request) and 409 (the head moved from headSHA); any other code is the request not being
// mergeable, for r's reasons. said, when not "", is the forge's own message, quoted after.
func mergeRefused(code int, headSHA string, r refusal, said string) error {
	why := "the " + r.request + " is not mergeable (" + r.notMergeable + ")"
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		why = "the token may not merge it"
	case http.StatusNotFound:
		why = "no such " + r.request
	case http.StatusConflict:
		why = "its head moved from " + short(headSHA) + ", the commit whose checks and reviews were read"
	}
	if said != "" {
		why += " (the forge says: " + said + ")"
	}
	return fmt.Errorf("the forge refused the merge (HTTP %d): %s", code, why)
}

// short is a commit's first 12 hex digits.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
