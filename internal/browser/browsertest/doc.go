// Package browsertest drives a real headless Chromium (Debian's chromium-headless-shell, which hack/chromium.sh
// installs) through chromedp, for tests of web pages: one browser per test, every action under a time limit, and
// everything a page does wrong recorded — console errors and warnings, uncaught exceptions, failed requests,
// subresources answered with HTTP ≥ 400, Content Security Policy violations, alert dialogs — so a test ends with
// NoErrors:
//
//	p := browsertest.Open(t).Visit(t, srv.URL+"/models")
//	if got := p.Text("h1"); got != "Models" {
//		t.Errorf("h1 = %q", got)
//	}
//	p.Click("a.model")
//	p.NoErrors(t)
//
// MARINA_CHROMIUM names the browser's binary instead of Debian's; MARINA_SCREENSHOTS names a directory that keeps the
// screenshots tests take (by default they go with the test's temporary directory). Without Chromium the test is
// skipped with a hint, or fails where prerequisites are required (package prereq).
package browsertest
