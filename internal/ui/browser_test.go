package ui_test

import (
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/browser/browsertest"
	"github.com/marina-dev/marina/internal/ui"
)

// TestTheMatrixAndAModelPageInARealBrowser loads the matrix in headless Chromium, follows a model's link to its page,
// and checks what a person sees: the cells' versions and states, the hostile commit message, author and block
// reason as literal text (no script ran: an alert would be reported), and no console error, failed request or
// Content-Security-Policy violation on either page.
func TestTheMatrixAndAModelPageInARealBrowser(t *testing.T) {
	t.Parallel()
	base := serve(t, ui.Options{Repo: dashboardRepo(t)})
	p := browsertest.Open(t).Visit(t, base+"/")
	if got := p.Count("#matrix td.cell"); got != 6 { // iris-classifier, orphan and vision-gpu in staging and prod
		t.Errorf("%d cells, want 3 models × 2 environments", got)
	}
	for _, c := range []struct{ model, env, text string }{
		{"iris-classifier", "prod", "1.1.0 registered"},
		{"iris-classifier", "staging", "1.0.0 active"},
		{"vision-gpu", "prod", "not deployed"},
	} {
		if got := p.Text(`td.cell[data-model="` + c.model + `"][data-env="` + c.env + `"]`); !strings.Contains(got, c.text) {
			t.Errorf("%s in %s shows %q, want %q", c.model, c.env, got, c.text)
		}
	}
	if got, want := p.Text(`td.cell[data-model="iris-classifier"][data-env="prod"] .author`), `Mallory "Bobby" O'Hara`; got != want {
		t.Errorf("the last change's author shows as %q, want the literal %q", got, want)
	}
	p.Screenshot(t, "matrix.png")
	p.NoErrors(t)

	p.Click(`tr[data-model="iris-classifier"] a.model`)
	if !strings.HasSuffix(p.URL(), "/models/iris-classifier") {
		t.Fatalf("the model's link led to %s", p.URL())
	}
	if got := p.Text("#v0\\.9\\.0"); !strings.Contains(got, "blocked") || !strings.Contains(got, "rolled back: "+hostile) {
		t.Errorf("0.9.0's row shows %q, want blocked and its reason as text", got)
	}
	if got := p.Count(`#history .timeline[data-env="prod"] li.event`); got != 2 {
		t.Errorf("prod's timeline has %d events, want 2", got)
	}
	if got := p.Text(`#history .timeline[data-env="prod"] li.event .message`); got != hostile {
		t.Errorf("the hand edit's message shows as %q, want the literal %q", got, hostile)
	}
	p.Screenshot(t, "model.png")
	p.NoErrors(t)
}
