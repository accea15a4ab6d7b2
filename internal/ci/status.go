package ci

import (
	"fmt"
	"unicode/utf8"
)

// StatusDescriptionMax is the longest description Headline returns, in characters: a commit status's on
// GitHub (Gitea takes longer ones, and shows this much without cutting it).
const StatusDescriptionMax = 140

// Headline is the run's outcome in one line, for a commit status's description: "passed" with the gates and
// model checks that passed, or the first failure's reason (the first failed gate's message, else the first of
// Reasons) and how many more failed, cut to StatusDescriptionMax characters.
func (res *Result) Headline() string {
	if res.Passed {
		s := "marina ci passed"
		if n := len(res.Gates); n > 0 {
			s += ": " + plural(n, "gate", "gates")
			if c := len(res.Checks); c > 0 {
				s += ", " + plural(c, "model check", "model checks")
			}
		}
		return s
	}
	reason, more := "marina ci failed", len(res.Reasons())-1
	if failed := res.FailedGates(); len(failed) > 0 {
		g := failed[0]
		reason = fmt.Sprintf("%s@%s %s: %s", g.Model, g.Version, g.Gate, g.Message)
		more += len(failed) - 1
	} else if rs := res.Reasons(); len(rs) > 0 {
		reason = rs[0]
	}
	if more > 0 {
		reason = fmt.Sprintf("%s (and %d more)", reason, more)
	}
	return Truncate(reason, StatusDescriptionMax)
}

// Subject is the model the headline is about: the first failed gate's, else the first changed model's; "" when
// no model changed.
func (res *Result) Subject() string {
	if failed := res.FailedGates(); len(failed) > 0 {
		return failed[0].Model
	}
	if res.Changes != nil {
		if rows := changeRows(res.Changes); len(rows) > 0 {
			return rows[0].model
		}
	}
	return ""
}

// Truncate cuts s to at most max characters, the last of them an ellipsis when it was cut.
func Truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}
