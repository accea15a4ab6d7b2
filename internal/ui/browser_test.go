package ui_test

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/browser/browsertest"
	"github.com/marina-dev/marina/internal/eventually"
	"github.com/marina-dev/marina/internal/golden"
	"github.com/marina-dev/marina/internal/ui"
)

// screenshotsDir is where -update writes the screenshots docs/ui.md shows.
const screenshotsDir = "../../docs/images"

// screenshot saves the page as name under $MARINA_SCREENSHOTS (see browsertest), and with -update also as
// docs/images/name, checking that it decodes as a PNG.
func screenshot(t *testing.T, p *browsertest.Page, name string) {
	t.Helper()
	path := p.Screenshot(t, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	t.Logf("%s: %d×%d, %d bytes", name, img.Bounds().Dx(), img.Bounds().Dy(), len(b))
	if golden.Update() {
		if err := os.WriteFile(filepath.Join(screenshotsDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTheRolloutPageInABrowser loads the matrix and a rollout page with its shadow charts from a real Prometheus
// in headless Chromium: no console error and no CSP violation, the meta refresh included; hostile text from the
// cluster stays text; the matrix's link leads to the rollout. With -update it writes docs/images/ui-matrix.png and
// docs/images/ui-rollout.png.
func TestTheRolloutPageInABrowser(t *testing.T) {
	t.Parallel()
	b := browsertest.Open(t)
	// Half a minute of scrapes: lines, not dots, in the screenshot's 5-minute charts.
	base, _ := shadowDashboard(t, 30)

	start := time.Now()
	matrix := b.Visit(t, base+"/")
	t.Logf("the matrix loaded in %s", time.Since(start).Round(time.Millisecond))
	matrix.NoErrors(t)
	if got := matrix.Text(`td[data-model="iris-classifier"][data-env="prod"] a.rollout`); got != "ModelDeployment 1.1.0 ready" {
		t.Errorf("the prod cell's rollout link says %q", got)
	}
	screenshot(t, matrix, "ui-matrix.png")
	matrix.Click(`td[data-model="iris-classifier"][data-env="prod"] a.rollout`)
	if got := matrix.URL(); got != base+"/rollouts/models-prod/iris-classifier" {
		t.Fatalf("the link led to %s", got)
	}

	start = time.Now()
	rollout := b.Visit(t, base+"/rollouts/models-prod/iris-classifier?range=5m")
	t.Logf("the rollout page with its 6 charts loaded in %s", time.Since(start).Round(time.Millisecond))
	for sel, want := range map[string]string{
		"#canary-version": "1.1.0", "#stable-version": "1.0.0", `b[data-weight="shadow"]`: "20%", `b[data-weight="stable"]`: "100%",
	} {
		if got := rollout.Text(sel); got != want {
			t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
	if n := rollout.Count("figure.chart-box svg.chart path.chart-line-0"); n != 6 {
		t.Errorf("%d charts with a line, want 6", n)
	}
	if n := rollout.Count("figure.chart-box .error"); n != 0 {
		t.Errorf("%d charts failed", n)
	}
	screenshot(t, rollout, "ui-rollout.png")
	// The page reloads itself every 5 s: the footer's time changes, and the reload breaks no rule of the CSP.
	first := rollout.Attr("footer time", "datetime")
	eventually.True(t, 3*ui.RefreshSeconds*time.Second, "the page reloads", func() bool {
		return rollout.Attr("footer time", "datetime") != first
	})
	rollout.NoErrors(t)

	hostilePage := b.Visit(t, base+"/rollouts/"+hostileNS+"/"+hostileRollout)
	hostilePage.NoErrors(t)
	if got := hostilePage.Text("#abort"); got != "Aborted: aborted: "+hostile {
		t.Errorf("the abort message is shown as text: %q", got)
	}
	if got := hostilePage.Text(`#events tr[data-reason="Aborted"] td.message`); got != "rolled back: "+hostile {
		t.Errorf("the Event's message is shown as text: %q", got)
	}
	if n := hostilePage.Count("main script, #abort *, #conditions td.message *, #events td.message *"); n != 0 || strings.Contains(hostilePage.HTML("main"), "<script>") {
		t.Errorf("hostile text became %d elements", n)
	}
}

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
