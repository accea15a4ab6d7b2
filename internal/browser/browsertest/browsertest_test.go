package browsertest

import (
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/tbtest"
)

// resource is what the test server answers for one path.
type resource struct {
	body, csp string
	status    int  // 200 unless set
	abort     bool // the server closes the connection without an answer, as when it crashes
}

// serve starts an HTTP server answering pages by path (404 elsewhere), each with the content type its extension
// says.
func serve(t *testing.T, pages map[string]resource) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if p.abort {
			panic(http.ErrAbortHandler)
		}
		switch filepath.Ext(r.URL.Path) {
		case ".css":
			w.Header().Set("Content-Type", "text/css")
		case ".js":
			w.Header().Set("Content-Type", "text/javascript")
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		if p.csp != "" {
			w.Header().Set("Content-Security-Policy", p.csp)
		}
		if p.status != 0 {
			w.WriteHeader(p.status)
		}
		_, _ = w.Write([]byte(p.body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// doc is an HTML document with head and body.
func doc(head, body string) string {
	return "<!doctype html><html lang=en><head><meta charset=utf-8><title>t</title>" + head + "</head><body>" + body + "</body></html>"
}

const strict = "default-src 'self'" // no inline script or style

// hostile is what a model's name or a commit message could hold.
const hostile = `<script>alert(1)</script>`

// TestNoErrorsNamesWhatWentWrong loads pages that each do one thing wrong, in one browser, and checks that NoErrors
// fails naming it; a clean page, with a strict CSP, its own stylesheet and script, passes, also after the others.
func TestNoErrorsNamesWhatWentWrong(t *testing.T) {
	t.Parallel()
	srv := serve(t, map[string]resource{
		"/clean": {csp: strict, body: doc(`<link rel=stylesheet href=/site.css><script src=/site.js></script>`,
			`<h1>Models</h1><p id=hostile>`+html.EscapeString(hostile)+`</p>`)},
		"/site.css":      {body: "h1 { color: navy }"},
		"/site.js":       {body: "document.documentElement.dataset.ready = 'yes';"},
		"/console-error": {body: doc(`<script>console.error("the model list is empty:", 0)</script>`, "")},
		"/console-warn":  {body: doc(`<script>console.warn("deprecated endpoint")</script>`, "")},
		"/exception":     {body: doc(`<script>null.models.length</script>`, "")},
		"/missing-css":   {body: doc(`<link rel=stylesheet href=/missing.css>`, "")},
		"/csp-inline":    {csp: strict, body: doc(`<script>document.title = "inline ran"</script>`, "")},
		"/broken":        {body: doc("", `<img src="/logo.png" alt="">`)},
		"/logo.png":      {abort: true},
		"/unescaped":     {body: doc("", `<p>`+hostile+`</p>`)},
	})
	b := Open(t)
	for _, tc := range []struct{ path, want string }{
		{"/console-error", "console.error: the model list is empty: 0 at " + srv.URL + "/console-error:1"},
		{"/console-warn", "console.warning: deprecated endpoint"},
		{"/exception", "exception: Uncaught TypeError: Cannot read properties of null (reading 'models')"},
		{"/missing-css", "HTTP 404: GET " + srv.URL + "/missing.css (Stylesheet)"},
		{"/csp-inline", "Content Security Policy"},
		{"/broken", "request failed: GET " + srv.URL + "/logo.png (Image): net::ERR_EMPTY_RESPONSE"},
		{"/unescaped", `alert dialog: "1"`},
		{"/clean", ""},
	} {
		t.Run(tc.path[1:], func(t *testing.T) {
			p := b.Visit(t, srv.URL+tc.path)
			got := tbtest.Failures(t, p.NoErrors)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("NoErrors failed on a clean page: %q", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("NoErrors failed with %q, want one failure naming %q", got, tc.want)
			}
		})
	}
}

// TestQueriesAndClicks reads a page, clicks a link to the next, and reads what an escaped hostile string became:
// text, not a script.
func TestQueriesAndClicks(t *testing.T) {
	t.Parallel()
	srv := serve(t, map[string]resource{
		"/models": {csp: strict, body: doc("", `<h1>Models</h1><ul>`+
			`<li><a class=model href="/models/iris" data-stage=prod>iris-classifier</a>`+
			`<li><a class=model href="/models/llm">llm   chat</a>`+
			`<li hidden><a class=model href="/models/old">old</a></ul>`)},
		"/models/iris": {csp: strict, body: doc("", `<h1>iris-classifier</h1><p class=note>`+html.EscapeString(hostile)+`</p>`)},
		"/gone":        {status: http.StatusNotFound, body: doc("", "<h1>Not found</h1>")},
	})
	b := Open(t)
	p := b.Visit(t, srv.URL+"/models")
	if got := p.Text("h1"); got != "Models" {
		t.Errorf(`Text("h1") = %q, want "Models"`, got)
	}
	if got, want := p.Texts("a.model"), []string{"iris-classifier", "llm chat", "old"}; !slices.Equal(got, want) {
		t.Errorf(`Texts("a.model") = %q, want %q`, got, want)
	}
	if got := p.Count("a.model"); got != 3 {
		t.Errorf(`Count("a.model") = %d, want 3`, got)
	}
	if got := p.Count("table"); got != 0 {
		t.Errorf(`Count("table") = %d, want 0`, got)
	}
	if got := p.Attr("a.model", "data-stage"); got != "prod" {
		t.Errorf(`Attr("a.model", "data-stage") = %q, want "prod"`, got)
	}
	if got := p.HTML("li a"); got != `<a class="model" href="/models/iris" data-stage="prod">iris-classifier</a>` {
		t.Errorf(`HTML("li a") = %q`, got)
	}
	if p.Status() != http.StatusOK || p.URL() != srv.URL+"/models" {
		t.Errorf("after Visit: Status %d, URL %s", p.Status(), p.URL())
	}

	p.Click("a.model")
	if p.URL() != srv.URL+"/models/iris" || p.Status() != http.StatusOK {
		t.Errorf("after Click: Status %d, URL %s", p.Status(), p.URL())
	}
	if got := p.Text("h1"); got != "iris-classifier" {
		t.Errorf(`after Click, Text("h1") = %q, want "iris-classifier"`, got)
	}
	if got := p.Text("p.note"); got != hostile {
		t.Errorf("the escaped hostile string reads back as %q, want the literal %q", got, hostile)
	}
	if got := p.Count("script"); got != 0 {
		t.Errorf("the escaped hostile string made %d script elements", got)
	}
	if got := p.HTML("p.note"); got != `<p class="note">&lt;script&gt;alert(1)&lt;/script&gt;</p>` {
		t.Errorf(`HTML("p.note") = %q`, got)
	}
	p.NoErrors(t)

	// An error page is the test's to judge: its status is there, and it is not one of NoErrors' problems.
	p = b.Visit(t, srv.URL+"/gone")
	if p.Status() != http.StatusNotFound || p.Text("h1") != "Not found" {
		t.Errorf("the error page: Status %d, h1 %q", p.Status(), p.Text("h1"))
	}
	p.NoErrors(t)

	// What a query cannot do fails the test given to Visit, saying what and where.
	if got := tbtest.Failures(t, func(tb testing.TB) { b.Visit(tb, srv.URL+"/gone").Attr("h1", "href") }); len(got) != 1 ||
		!strings.Contains(got[0], `Attr("h1", "href") on `+srv.URL+"/gone: the element has no attribute href") {
		t.Errorf("Attr of a missing attribute failed with %q", got)
	}
	if got := tbtest.Failures(t, func(tb testing.TB) {
		p := b.Visit(tb, srv.URL+"/gone")
		b.Timeout = time.Second
		p.Text("table")
	}); len(got) != 1 ||
		!strings.Contains(got[0], `Text("table") on `+srv.URL+"/gone (HTTP 404): not done within 1s") {
		t.Errorf("Text of a missing element failed with %q", got)
	}
}

// TestAHungPageFailsTheTest: a page whose script never ends fails the visit within the browser's Timeout, and the
// test's Cleanup still stops the browser.
func TestAHungPageFailsTheTest(t *testing.T) {
	t.Parallel()
	srv := serve(t, map[string]resource{"/hung": {body: doc("<script>for (;;) {}</script>", "")}})
	b := Open(t)
	b.Timeout = 2 * time.Second
	start := time.Now()
	got := tbtest.Failures(t, func(tb testing.TB) { b.Visit(tb, srv.URL+"/hung") })
	if len(got) != 1 || !strings.Contains(got[0], "Visit on "+srv.URL+"/hung: not done within 2s") {
		t.Errorf("visiting a hung page failed with %q", got)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("visiting a hung page took %s, the limit is 2s", took)
	}
}

// TestScreenshotIsAFullPagePNG: the screenshot is a PNG of the whole page, taller than the window, saved under
// $MARINA_SCREENSHOTS in a directory named after the test. Not parallel: it sets the variable.
func TestScreenshotIsAFullPagePNG(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MARINA_SCREENSHOTS", dir)
	srv := serve(t, map[string]resource{"/tall": {body: doc("<style>body { margin: 0 } div { height: 2000px; background: teal }</style>", "<div></div>")}})
	p := Open(t).Visit(t, srv.URL+"/tall")
	path := p.Screenshot(t, "tall.png")
	if want := filepath.Join(dir, t.Name(), "tall.png"); path != want {
		t.Errorf("Screenshot saved %s, want %s", path, want)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if size := img.Bounds().Size(); size.X != 1280 || size.Y != 2000 {
		t.Errorf("the screenshot is %dx%d, want 1280x2000 (the window's width, the page's height)", size.X, size.Y)
	}
	p.NoErrors(t)
}
