package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/marina-dev/marina/internal/logtest"
	"github.com/marina-dev/marina/internal/prereq"
)

// DefaultTimeout is how long starting the browser, and each action on a page (a visit, a click, a query), may take
// before the test fails: a hung browser or page fails the test instead of hanging the run.
const DefaultTimeout = 30 * time.Second

// Debian's chromium packages install their binaries here. /usr/bin/chromium-headless-shell is a shell script that
// runs the binary without exec: the signals meant for the browser (the harness's, the kernel's when the test binary
// dies) would reach the shell only, and the browser would outlive it (killing the shell leaves 6 processes running).
// So these come before the names looked up on PATH.
var debianBinaries = []string{
	"/usr/lib/chromium/chromium-headless-shell",
	"/usr/lib/chromium/headless_shell",
	"/usr/lib/chromium/chromium",
}

// Binary finds Chromium: $MARINA_CHROMIUM, else Debian's binaries under /usr/lib/chromium, else chromium-headless-shell
// or chromium on PATH. Without one the test is skipped, or fails where prerequisites are required (see package
// prereq).
func Binary(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("MARINA_CHROMIUM"); bin != "" {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Fatalf("MARINA_CHROMIUM=%s: %v", bin, err)
		}
		return bin
	}
	for _, name := range append(debianBinaries, "chromium-headless-shell", "chromium") {
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	prereq.Missing(tb, "Chromium not found (MARINA_CHROMIUM, /usr/lib/chromium, PATH): run hack/chromium.sh (as root) to install Debian's chromium-headless-shell")
	return ""
}

// Browser is one headless Chromium with one tab, started by Open for one test. It is not safe for concurrent use.
type Browser struct {
	// Timeout bounds each action on the browser's pages (DefaultTimeout unless the test sets it).
	Timeout time.Duration

	ctx context.Context // the tab's; actions run on contexts derived from it

	mu        sync.Mutex
	mainFrame cdp.FrameID
	page      *Page                          // the page events are recorded for: the last Visit's
	requests  map[network.RequestID]*request // in flight
}

// Open starts a headless Chromium for the test (1280×900 window, a temporary profile); the test's Cleanup stops it,
// and the kernel kills it if the test binary dies first. It skips or fails the test as Binary does without Chromium,
// and fails it when the browser does not start within DefaultTimeout.
func Open(tb testing.TB) *Browser {
	tb.Helper()
	var output logtest.Buffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:], // headless, no first-run, extensions or background work
		chromedp.ExecPath(Binary(tb)),
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		// Chromium's sandbox refuses to start as root (it runs renderers as an unprivileged user in namespaces of
		// their own); as root, in CI's containers, the pages the tests load are the tests' own, so the sandbox goes.
		// As any other user it stays on, as users run it.
		chromedp.Flag("no-sandbox", os.Geteuid() == 0),
		chromedp.CombinedOutput(&output),
		// No user-data-dir: chromedp then makes a temporary profile, and after the browser exits kills the child
		// processes still using it and removes it.
	)
	allocCtx, stopAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &Browser{Timeout: DefaultTimeout, requests: map[network.RequestID]*request{}}
	ctx, stopTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.record))
	b.ctx = ctx
	tb.Cleanup(func() {
		stopTab()   // kills the browser (SIGKILL): nothing is left to save
		stopAlloc() // returns once it is reaped, its leftover children killed and its profile removed
		if tb.Failed() {
			out := output.String()
			tb.Logf("chromium's output (the end):\n%s", out[max(0, len(out)-4000):])
		}
	})
	// The first action starts the browser and ties its life to its context, so it runs on ctx itself and the time
	// limit stops the allocator instead.
	timer := time.AfterFunc(DefaultTimeout, stopAlloc)
	err := chromedp.Do(ctx)
	timer.Stop()
	if err != nil {
		tb.Fatalf("starting chromium: %v (the limit is %s)", err, DefaultTimeout)
	}
	// The main frame's id is the target's: responses for it are the pages visited, not subresources.
	b.mu.Lock()
	b.mainFrame = cdp.FrameID(chromedp.FromContext(ctx).Target.TargetID)
	b.mu.Unlock()
	return b
}

// Page is the browser's tab from one Visit on, until the next: the documents its clicks load are part of it, and it
// records what they do wrong too. Its queries fail the test given to Visit, which must be the test's own goroutine's.
type Page struct {
	b  *Browser
	tb testing.TB

	// under b.mu
	url      string
	status   int
	problems []string
}

// Visit opens url in the browser's tab and waits until it has loaded (the load event: its stylesheets, scripts and
// images too); it fails the test when the page does not load within the browser's Timeout.
func (b *Browser) Visit(tb testing.TB, url string) *Page {
	tb.Helper()
	p := &Page{b: b, tb: tb, url: url}
	b.mu.Lock()
	b.page = p
	b.mu.Unlock()
	p.do("Visit", func(ctx context.Context) error {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
		p.loaded(resp)
		return err
	})
	return p
}

// loaded records the response of the document a navigation loaded.
func (p *Page) loaded(resp *network.Response) {
	if resp == nil {
		return
	}
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	p.url, p.status = resp.URL, int(resp.Status)
}

// URL is the address of the page's document: the one visited, or the one the last Click loaded.
func (p *Page) URL() string {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return p.url
}

// Status is the HTTP status of the page's document. A status ≥ 400 is not among NoErrors' problems (an error page
// can be what a test visits); a subresource's is.
func (p *Page) Status() int {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return p.status
}

// do runs f within the browser's Timeout and fails the test when it fails; what names the call.
func (p *Page) do(what string, f func(ctx context.Context) error) {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(p.b.ctx, p.b.Timeout)
	defer cancel()
	if err := f(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("not done within %s", p.b.Timeout)
		}
		on := p.URL()
		if status := p.Status(); status != 0 {
			on += fmt.Sprintf(" (HTTP %d)", status)
		}
		p.tb.Fatalf("%s on %s: %v%s", what, on, err, p.report())
	}
}

// run runs action on the page as do does, and returns its value.
func run[T any](p *Page, what string, action chromedp.Action[T]) T {
	p.tb.Helper()
	var v T
	p.do(what, func(ctx context.Context) (err error) {
		v, err = chromedp.Run(ctx, action)
		return err
	})
	return v
}

// js is s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// Text is the visible text (innerText) of the first element matching the CSS selector; it waits for one to exist.
func (p *Page) Text(selector string) string {
	p.tb.Helper()
	return run(p, fmt.Sprintf("Text(%q)", selector), chromedp.Text(chromedp.CSS(selector)))
}

// Texts is the innerText of every element matching the CSS selector, in document order (the textContent of one not
// rendered, e.g. hidden); none is an empty list.
func (p *Page) Texts(selector string) []string {
	p.tb.Helper()
	return run(p, fmt.Sprintf("Texts(%q)", selector),
		chromedp.Evaluate[[]string]("Array.from(document.querySelectorAll("+js(selector)+"), e => e.innerText)"))
}

// Count is how many elements match the CSS selector now.
func (p *Page) Count(selector string) int {
	p.tb.Helper()
	return run(p, fmt.Sprintf("Count(%q)", selector),
		chromedp.Evaluate[int]("document.querySelectorAll("+js(selector)+").length"))
}

// Attr is the value of the attribute name of the first element matching the CSS selector; it waits for one to exist, and fails
// the test when the element has no such attribute.
func (p *Page) Attr(selector, name string) string {
	p.tb.Helper()
	a := run(p, fmt.Sprintf("Attr(%q, %q)", selector, name), chromedp.AttributeValue(chromedp.CSS(selector), name))
	if !a.Exists {
		p.tb.Fatalf("Attr(%q, %q) on %s: the element has no attribute %s", selector, name, p.URL(), name)
	}
	return a.Value
}

// HTML is the outer HTML of the first element matching the CSS selector, as the browser serializes its DOM; it waits
// for one to exist.
func (p *Page) HTML(selector string) string {
	p.tb.Helper()
	return run(p, fmt.Sprintf("HTML(%q)", selector), chromedp.OuterHTML(chromedp.CSS(selector)))
}

// Click clicks the first element matching the CSS selector (a link, a form's button) and waits until the document
// the click navigates to has loaded; a click that loads no page fails the test after the browser's Timeout.
func (p *Page) Click(selector string) {
	p.tb.Helper()
	p.do(fmt.Sprintf("Click(%q)", selector), func(ctx context.Context) error {
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(selector)))
		p.loaded(resp)
		return err
	})
}

// NoErrors fails tb, listing them, when the page has had problems since Visit: console errors and warnings (CSP
// violations among them), uncaught exceptions, failed requests, subresources answered with HTTP ≥ 400, and alert,
// confirm or prompt dialogs (dismissed at once, so they do not block the page). What a script does after NoErrors
// returns is not checked: a test of a script's later work waits for its effect (Text waits) first.
func (p *Page) NoErrors(tb testing.TB) {
	tb.Helper()
	// The browser sends a page's events before its answer to a later command, and records them on the way: after
	// this round trip everything the page did until now is recorded.
	ctx, cancel := context.WithTimeout(p.b.ctx, p.b.Timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void]("0")); err != nil {
		tb.Errorf("%s: the page does not answer: %v%s", p.URL(), err, p.report())
		return
	}
	if r := p.report(); r != "" {
		tb.Errorf("%s:%s", p.URL(), r)
	}
}

// report lists the problems recorded so far, on lines of their own after a count, or is "" when there are none.
func (p *Page) report() string {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	if len(p.problems) == 0 {
		return ""
	}
	return fmt.Sprintf("\n%d problem(s) in the browser:\n\t%s", len(p.problems), strings.Join(p.problems, "\n\t"))
}

// Screenshot saves a PNG of the whole page (beyond the window when it scrolls) as name in $MARINA_SCREENSHOTS/TEST
// (TEST the test's name), or in a temporary directory of the test's when that is not set; it logs the path and
// returns it.
func (p *Page) Screenshot(tb testing.TB, name string) string {
	tb.Helper()
	var path string
	if dir := os.Getenv("MARINA_SCREENSHOTS"); dir != "" {
		path = filepath.Join(dir, unsafeInPath.ReplaceAllString(tb.Name(), "_"), name)
	} else {
		path = filepath.Join(tb.TempDir(), name)
	}
	ctx, cancel := context.WithTimeout(p.b.ctx, p.b.Timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		tb.Fatalf("screenshot of %s: %v", p.URL(), err)
	}
	tb.Logf("screenshot of %s: %s", p.URL(), path)
	return path
}

// unsafeInPath matches what a test's name may hold that a directory's should not (subtests' slashes stay: one
// directory per level).
var unsafeInPath = regexp.MustCompile(`[^A-Za-z0-9_./-]|\.\.+`)

// record is the tab's event listener: it runs on the goroutine reading the browser's messages, so it only records.
func (b *Browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		r := b.request(ev.RequestID)
		r.what = ev.Request.Method + " " + ev.Request.URL + " (" + string(ev.Type) + ")"
		r.document = ev.Type == network.ResourceTypeDocument && ev.FrameID == b.mainFrame
	case *network.EventResponseReceivedExtraInfo:
		// The status of a response the browser then refuses (a stylesheet served as text/plain, as a 404 page is)
		// comes only here: the request ends canceled, with no EventResponseReceived.
		b.request(ev.RequestID).status = ev.StatusCode
	case *network.EventResponseReceived:
		r := b.request(ev.RequestID)
		r.status = ev.Response.Status
		b.httpProblem(r)
	case *network.EventLoadingFinished:
		delete(b.requests, ev.RequestID)
	case *network.EventLoadingFailed:
		r := b.request(ev.RequestID)
		delete(b.requests, ev.RequestID)
		b.httpProblem(r)
		if ev.Canceled { // refused as above, or no longer wanted, e.g. when the page navigated away
			return
		}
		msg := "request failed: " + r.what + ": " + ev.ErrorText
		if ev.BlockedReason != "" {
			msg += ", blocked: " + string(ev.BlockedReason)
		}
		b.problem(msg)
	case *runtime.EventConsoleAPICalled:
		switch ev.Type {
		case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeWarning, runtime.ConsoleAPICalledTypeAssert:
			b.problem(fmt.Sprintf("console.%s: %s%s", ev.Type, consoleText(ev.Args), at(ev.StackTrace, "", 0)))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text // "Uncaught", "Uncaught (in promise)"
		if d.Exception != nil {
			desc, _, _ := strings.Cut(consoleValue(d.Exception), "\n") // its first line: the stack is in at's place
			text += " " + desc
		}
		b.problem("exception: " + text + at(d.StackTrace, d.URL, d.LineNumber))
	case *log.EventEntryAdded:
		e := ev.Entry
		// The network's entries ("Failed to load resource: …") are recorded above, with the request; the
		// document's own status is the test's to judge (Status).
		if (e.Level == log.EntryLevelError || e.Level == log.EntryLevelWarning) && e.Source != log.EntrySourceNetwork {
			b.problem(fmt.Sprintf("console %s (%s): %s%s", e.Level, e.Source, e.Text, at(e.StackTrace, e.URL, e.LineNumber)))
		}
	case *page.EventJavascriptDialogOpening:
		b.problem(fmt.Sprintf("%s dialog: %q", ev.Type, ev.Message))
		// The dialog blocks the page until it is answered, and the listener must not wait for the browser.
		go func() {
			_, _ = chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}()
	}
}

// problem records msg for the current page; b.mu is held.
func (b *Browser) problem(msg string) {
	if b.page != nil {
		b.page.problems = append(b.page.problems, msg)
	}
}

// request is what the listener knows of a request in flight.
type request struct {
	what     string // "METHOD URL (TYPE)"
	document bool   // the main frame's document: its status is the test's to judge (Page.Status)
	status   int64  // of its response, once received
	reported bool   // its status is among the problems
}

// request is the request id refers to, new if the listener has not seen it yet (the browser's ExtraInfo events
// can come first); b.mu is held.
func (b *Browser) request(id network.RequestID) *request {
	r := b.requests[id]
	if r == nil {
		r = &request{what: string(id)}
		b.requests[id] = r
	}
	return r
}

// httpProblem records r's status when it is ≥ 400, once, unless r is the main frame's document; b.mu is held.
func (b *Browser) httpProblem(r *request) {
	if r.status >= 400 && !r.document && !r.reported {
		r.reported = true
		b.problem(fmt.Sprintf("HTTP %d: %s", r.status, r.what))
	}
}

// at is " at URL:LINE" from the top of stack, else from url and line (0-based, as the protocol's), or "".
func at(stack *runtime.StackTrace, url string, line int64) string {
	if stack != nil && len(stack.CallFrames) > 0 {
		url, line = stack.CallFrames[0].URL, stack.CallFrames[0].LineNumber
	}
	if url == "" {
		return ""
	}
	return fmt.Sprintf(" at %s:%d", url, line+1)
}

// consoleText is a console call's arguments as the console shows them, roughly: strings as they are, other values
// by their description.
func consoleText(args []*runtime.RemoteObject) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = consoleValue(a)
	}
	return strings.Join(parts, " ")
}

// consoleValue is one value: a string as it is, else its description or its JSON.
func consoleValue(o *runtime.RemoteObject) string {
	var s string
	switch {
	case o.Type == runtime.RemoteObjectTypeString && json.Unmarshal(o.Value, &s) == nil:
		return s
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	case o.Description != "":
		return o.Description
	case len(o.Value) > 0:
		return string(o.Value)
	}
	return string(o.Type)
}
