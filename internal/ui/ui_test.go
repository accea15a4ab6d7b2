package ui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/repo/repotest"
	"github.com/marina-dev/marina/internal/ui"
)

// later is the dashboards' clock: three hours after the test's commits, made at the real time.
func later() time.Time { return time.Now().Add(3 * time.Hour) }

// hostile is what a repository's author may put in a commit message, an author or a label: each page must show it
// as text.
const hostile = `<script>alert(1)</script> "quoted" 'single' & <b>bold</b>`

// dashboardRepo is the example repository with what the pages must show: iris-classifier 0.9.0 blocked (with a
// hostile reason) and 1.1.0 registered, prod moved to 1.1.0 by a person in a hand edit with a hostile message, a
// model registered and deployed nowhere, and a hostile label.
func dashboardRepo(t *testing.T) string {
	t.Helper()
	meta := repotest.ReadFile(t, repotest.ExamplePath(), "models/iris-classifier/v1.0.0.json")
	version := func(name, v, state, reason string) string {
		s := strings.Replace(meta, `"version": "1.0.0"`, `"version": "`+v+`"`, 1)
		s = strings.Replace(s, `"name": "iris-classifier"`, `"name": "`+name+`"`, 1)
		s = strings.Replace(s, `"team": "example"`, `"team": `+quoteJSON(hostile), 1)
		if state != "active" {
			s = strings.Replace(s, `"state": "active"`, `"state": "`+state+`", "stateReason": `+quoteJSON(reason), 1)
		}
		return s
	}
	dir := repotest.Example(t, map[string]string{
		"models/iris-classifier/v0.9.0.json": version("iris-classifier", "0.9.0", "blocked", "rolled back: "+hostile),
		"models/iris-classifier/v1.1.0.json": version("iris-classifier", "1.1.0", "registered", ""),
		"models/orphan/v1.0.0.json":          version("orphan", "1.0.0", "active", ""),
	})
	app := repotest.ReadFile(t, dir, "applications/iris-classifier/model.yaml")
	repotest.WriteFile(t, dir, "applications/iris-classifier/model.yaml", strings.Replace(app, "    prod:\n      version: 1.0.0", "    prod:\n      version: 1.1.0", 1))
	repotest.Git(t, dir, "commit", "-qam", hostile, "--author", `Mallory "Bobby" O'Hara <x"onmouseover="alert(1)@example.com>`)
	return dir
}

func quoteJSON(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// response is what a request got.
type response struct {
	code   int
	header http.Header
	body   string
}

// request sends method url with the headers (name, value, name, value…) without following redirects.
func request(t *testing.T, method, url string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// serve mounts a dashboard of dir, as a browser test would.
func serve(t *testing.T, opts ui.Options) string {
	t.Helper()
	if opts.Now == nil {
		opts.Now = later
	}
	srv := httptest.NewServer(ui.NewHandler(opts))
	t.Cleanup(srv.Close)
	return srv.URL
}

// cell is the matrix cell of model in env: its opening tag and content.
func cell(t *testing.T, body, model, env string) string {
	t.Helper()
	re := regexp.MustCompile(`(?s)<td class="cell[^"]*" data-model="` + regexp.QuoteMeta(model) + `" data-env="` + regexp.QuoteMeta(env) + `"[^>]*>.*?</td>`)
	m := re.FindString(body)
	if m == "" {
		t.Fatalf("no cell for %s in %s:\n%s", model, env, body)
	}
	return m
}

func TestTheMatrixShowsEachModelInEachEnvironment(t *testing.T) {
	t.Parallel()
	dir := dashboardRepo(t)
	head := repotest.Git(t, dir, "rev-parse", "HEAD")
	initial := repotest.Git(t, dir, "rev-parse", "HEAD~1")
	base := serve(t, ui.Options{Repo: dir})
	got := request(t, "GET", base+"/")
	if got.code != http.StatusOK || got.header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(got.body, `<table id="matrix">`) {
		t.Fatalf("GET /: %d %v\n%s", got.code, got.header, got.body)
	}
	for _, tc := range []struct {
		model, env string
		want       []string
	}{
		{"iris-classifier", "staging", []string{`data-version="1.0.0" data-state="active"`, `class="cell state-active"`, initial[:12], "3 hours ago",
			`<span class="gate gate-failed" title="latencyP95Ms.max: no latency_p95_ms metric recorded">gates 2/3 passed</span>`}},
		{"iris-classifier", "prod", []string{`data-version="1.1.0" data-state="registered"`, head[:12], `Mallory &#34;Bobby&#34; O&#39;Hara`, "3 hours ago",
			`gates 2/3 passed`}},
		{"vision-gpu", "staging", []string{`data-version="1.0.0" data-state="active"`, `<span class="gate gate-failed" title="accuracy.min: no accuracy metric recorded
accuracy.maxRegression: no accuracy metric recorded
latencyP95Ms.max: no latency_p95_ms metric recorded">gates 0/3 passed</span>`}},
		{"vision-gpu", "prod", []string{`class="cell empty"`, "not deployed"}},
		{"orphan", "staging", []string{`class="cell empty"`}},
	} {
		c := cell(t, got.body, tc.model, tc.env)
		for _, w := range tc.want {
			if !strings.Contains(c, w) {
				t.Errorf("%s in %s lacks %q:\n%s", tc.model, tc.env, w, c)
			}
		}
	}
	for model, blocked := range map[string]string{"iris-classifier": `<span class="version state-blocked">0.9.0</span>`, "vision-gpu": `<span class="none">none</span>`} {
		row := regexp.MustCompile(`(?s)<tr data-model="` + model + `">.*?</tr>`).FindString(got.body)
		if !strings.Contains(row, `<a class="model" href="/models/`+model+`">`) || !strings.Contains(row, `<td class="blocked">`+blocked) {
			t.Errorf("%s's row: want a link to its page and blocked %s:\n%s", model, blocked, row)
		}
	}
	if strings.Contains(got.body, "id=\"cluster-error\"") || strings.Contains(got.body, "workloads") {
		t.Errorf("no cluster was given, yet the matrix shows one:\n%s", got.body)
	}

	// The repository is read on each request: a promotion shows on the next one.
	app := repotest.ReadFile(t, dir, "applications/iris-classifier/model.yaml")
	repotest.WriteFile(t, dir, "applications/iris-classifier/model.yaml", strings.Replace(app, "    staging:\n      version: 1.0.0", "    staging:\n      version: 1.1.0", 1))
	repotest.Git(t, dir, "commit", "-qam", "staging: iris-classifier 1.1.0")
	again := request(t, "GET", base+"/")
	if c := cell(t, again.body, "iris-classifier", "staging"); !strings.Contains(c, `data-version="1.1.0"`) {
		t.Errorf("after a commit, staging still shows:\n%s", c)
	}
}

func TestAModelPageShowsItsVersionsAndEachEnvironmentsHistory(t *testing.T) {
	t.Parallel()
	dir := dashboardRepo(t)
	got := request(t, "GET", serve(t, ui.Options{Repo: dir})+"/models/iris-classifier")
	if got.code != http.StatusOK {
		t.Fatalf("%d\n%s", got.code, got.body)
	}
	versions := regexp.MustCompile(`(?s)<table id="versions">.*?</table>`).FindString(got.body)
	order := regexp.MustCompile(`<tr id="v([0-9.]+)"`).FindAllStringSubmatch(versions, -1)
	if len(order) != 3 || order[0][1] != "1.1.0" || order[1][1] != "1.0.0" || order[2][1] != "0.9.0" {
		t.Errorf("versions newest first, want 1.1.0 1.0.0 0.9.0: %q", order)
	}
	for _, w := range []string{
		`<tr id="v0.9.0" class="state-blocked" data-version="0.9.0" data-state="blocked">`,
		`<div class="reason">rolled back: &lt;script&gt;`,
		`<span class="version">1.1.0</span>
<span class="env">prod</span>`,
		"sha256:05f6759bd4f24b056f0d290267459d5b63dcc1f451fd702ee5796f4179c78cf5",
		"<div>350 B</div>", "<div>opset 17</div>",
		"<li><code>input</code> float32 [?, 4]</li>", "<li><code>probabilities</code> float32 [?, 3]</li>",
		`<div class="metric">accuracy 0.98</div>`, `<span class="none">unsigned</span>`,
		`<td class="changes"><div class="at">since 1.0.0</div><ul><li>the same model file</li></ul></td>`,
		`<td class="changes"><span class="none">first version</span></td>`,
	} {
		if !strings.Contains(versions, w) {
			t.Errorf("versions lack %q:\n%s", w, versions)
		}
	}
	history := regexp.MustCompile(`(?s)<section id="history">.*?</section>`).FindString(got.body)
	prod := regexp.MustCompile(`(?s)<div class="timeline" data-env="prod">.*?</ol>`).FindString(history)
	events := strings.Count(prod, `<li class="event">`)
	if events != 2 || !strings.Contains(prod, `now <span class="version">1.1.0</span>`) ||
		!strings.Contains(prod, `<span class="version">1.0.0</span> → <span class="version">1.1.0</span>`) ||
		!strings.Contains(prod, `<div class="message">&lt;script&gt;alert(1)&lt;/script&gt;`) {
		t.Errorf("prod's timeline: want 2 events, 1.0.0 → 1.1.0 by the hand edit, now 1.1.0 (%d events):\n%s", events, prod)
	}
	if !strings.Contains(history, `<div class="timeline" data-env="staging">`) {
		t.Errorf("no staging timeline:\n%s", history)
	}

	orphan := request(t, "GET", serve(t, ui.Options{Repo: dir})+"/models/orphan")
	if orphan.code != http.StatusOK || !strings.Contains(orphan.body, "No environment deploys orphan") || !strings.Contains(orphan.body, `<tr id="v1.0.0"`) {
		t.Errorf("a model registered only: %d\n%s", orphan.code, orphan.body)
	}

	app, err := os.ReadFile(filepath.Join(dir, "applications", "iris-classifier", "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	deployedOnly := repotest.Example(t, map[string]string{"applications/unregistered/model.yaml": strings.ReplaceAll(string(app), "iris-classifier", "unregistered")})
	unregistered := request(t, "GET", serve(t, ui.Options{Repo: deployedOnly})+"/models/unregistered")
	if unregistered.code != http.StatusOK || !strings.Contains(unregistered.body, "No version of unregistered is registered") ||
		!strings.Contains(unregistered.body, `<div class="timeline" data-env="prod">`) {
		t.Errorf("a model deployed but not registered: %d\n%s", unregistered.code, unregistered.body)
	}
}

func TestEverythingFromTheRepositoryIsEscaped(t *testing.T) {
	t.Parallel()
	dir := dashboardRepo(t)
	base := serve(t, ui.Options{Repo: dir})
	broken := repotest.Example(t, map[string]string{"models/<script>alert(1)<%2Fscript>/v1.0.0.json": "{}"})
	for _, tc := range []struct {
		name, url string
		code      int
		want      string
	}{
		{"a commit message and an author in the matrix", base + "/", 200, `title="Mallory &#34;Bobby&#34; O&#39;Hara &lt;x&#34;onmouseover=&#34;alert(1)@example.com&gt;"`},
		{"a commit message, an author, a label and a block reason on a model page", base + "/models/iris-classifier", 200, `<div class="label">team &lt;script&gt;alert(1)&lt;/script&gt; &#34;quoted&#34; &#39;single&#39; &amp; &lt;b&gt;bold&lt;/b&gt;</div>`},
		{"an unknown model's name in the 404 page", base + "/models/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 404, `model &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;: neither`},
		{"a directory name in an error", serve(t, ui.Options{Repo: broken}) + "/", 500, `models/&#34;&lt;script&gt;alert(1)&lt;%2Fscript&gt;&#34;`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := request(t, "GET", tc.url)
			if got.code != tc.code || !strings.Contains(got.body, tc.want) {
				t.Fatalf("%d, want %d and %s:\n%s", got.code, tc.code, tc.want, got.body)
			}
			for _, raw := range []string{"<script", "<b>", `"quoted"`, "onmouseover=\""} {
				if strings.Contains(got.body, raw) {
					t.Errorf("%q reached the page unescaped:\n%s", raw, got.body)
				}
			}
		})
	}
}

func TestEveryResponseCarriesTheStrictHeaders(t *testing.T) {
	t.Parallel()
	dir := dashboardRepo(t)
	open := serve(t, ui.Options{Repo: dir})
	locked := serve(t, ui.Options{Repo: dir, Token: "0123456789abcdef0123"})
	const html = "text/html; charset=utf-8"
	for _, tc := range []struct {
		name, method, url string
		code              int
		contentType       string
	}{
		{"the matrix", "GET", open + "/", 200, html},
		{"HEAD of the matrix", "HEAD", open + "/", 200, html},
		{"a model page", "GET", open + "/models/vision-gpu", 200, html},
		{"the style sheet", "GET", open + "/style.css", 200, "text/css; charset=utf-8"},
		{"an unknown model", "GET", open + "/models/nope", 404, html},
		{"an unknown path", "GET", open + "/admin", 404, html},
		{"a model's subpath", "GET", open + "/models/vision-gpu/edit", 404, html},
		{"POST", "POST", open + "/", 405, html},
		{"PUT on a model", "PUT", open + "/models/vision-gpu", 405, html},
		{"DELETE", "DELETE", open + "/style.css", 405, html},
		{"OPTIONS", "OPTIONS", open + "/", 405, html},
		{"no token", "GET", locked + "/", 401, html},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := request(t, tc.method, tc.url)
			if got.code != tc.code || got.header.Get("Content-Type") != tc.contentType {
				t.Fatalf("%d %q, want %d %q:\n%s", got.code, got.header.Get("Content-Type"), tc.code, tc.contentType, got.body)
			}
			for name, want := range map[string]string{
				"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
			} {
				if got.header.Get(name) != want {
					t.Errorf("%s: %q, want %q", name, got.header.Get(name), want)
				}
			}
			if tc.code == 405 && got.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("405 without Allow: GET, HEAD: %v", got.header)
			}
			if tc.method == "HEAD" && got.body != "" {
				t.Errorf("HEAD with a body: %q", got.body)
			}
		})
	}
}

func TestThePagesLoadNothingFromElsewhere(t *testing.T) {
	t.Parallel()
	base := serve(t, ui.Options{Repo: dashboardRepo(t)})
	css := request(t, "GET", base+"/style.css")
	if css.code != 200 || !strings.Contains(css.body, "#matrix") && !strings.Contains(css.body, ".cell") {
		t.Fatalf("style sheet: %d\n%s", css.code, css.body)
	}
	if regexp.MustCompile(`@import|url\(|https?:`).MatchString(css.body) {
		t.Errorf("the style sheet reaches out (@import, url() or an address):\n%s", css.body)
	}
	for _, page := range []string{"/", "/models/iris-classifier", "/nope"} {
		body := request(t, "GET", base+page).body
		for _, tag := range regexp.MustCompile(`<[^>]*(?:src|href)="[^"]*"`).FindAllString(body, -1) {
			if !regexp.MustCompile(`(?:src|href)="(?:/[^/][^"]*|/|data:,)"`).MatchString(tag) {
				t.Errorf("%s: %s does not point at the dashboard itself", page, tag)
			}
		}
		if strings.Contains(body, "<script") || strings.Contains(body, "style=") || strings.Contains(body, "<form") {
			t.Errorf("%s has a script, an inline style or a form, which the policy forbids:\n%s", page, body)
		}
	}
}

func TestATokenIsRequiredOnEveryRequest(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef0123"
	base := serve(t, ui.Options{Repo: dashboardRepo(t), Token: token})
	first := request(t, "GET", base+"/models/vision-gpu?token="+token+"&tab=versions")
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: first.header}).Cookies() {
		cookie = c
	}
	if first.code != http.StatusSeeOther || first.header.Get("Location") != "/models/vision-gpu?tab=versions" || cookie == nil ||
		!cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || strings.Contains(cookie.Value, token) {
		t.Fatalf("?token= on a first visit: want 303 to the page without the token, and an HttpOnly, SameSite=Strict cookie that is not the token: %d %v", first.code, first.header)
	}
	for _, tc := range []struct {
		name    string
		url     string
		headers []string
		code    int
	}{
		{"nothing", "/", nil, 401},
		{"a wrong bearer token", "/", []string{"Authorization", "Bearer 0123456789abcdef0124"}, 401},
		{"the token as Basic", "/", []string{"Authorization", "Basic " + token}, 401},
		{"the bearer token", "/", []string{"Authorization", "Bearer " + token}, 200},
		{"the bearer token on a model page", "/models/iris-classifier", []string{"Authorization", "Bearer " + token}, 200},
		{"the cookie", "/", []string{"Cookie", cookie.Name + "=" + cookie.Value}, 200},
		{"the cookie on the style sheet", "/style.css", []string{"Cookie", cookie.Name + "=" + cookie.Value}, 200},
		{"a forged cookie", "/", []string{"Cookie", cookie.Name + "=" + token}, 401},
		{"a wrong token in the address", "/?token=0123456789abcdef0124", nil, 401},
		{"the bearer token on an unknown page", "/nope", []string{"Authorization", "Bearer " + token}, 404},
		{"no token on an unknown page", "/nope", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := request(t, "GET", base+tc.url, tc.headers...)
			if got.code != tc.code {
				t.Fatalf("%d, want %d:\n%s", got.code, tc.code, got.body)
			}
			if tc.code == 401 && (got.header.Get("WWW-Authenticate") != `Bearer realm="marina ui"` || !strings.Contains(got.body, "?token=TOKEN")) {
				t.Errorf("a 401 says how to authenticate: %v\n%s", got.header, got.body)
			}
		})
	}
	// The address a first visit is sent back to stays on the dashboard.
	if got := request(t, "GET", base+"//evil.example/?token="+token); got.code != http.StatusSeeOther || got.header.Get("Location") != "/evil.example/" {
		t.Errorf("//evil.example/?token=: %d to %q, want 303 to /evil.example/", got.code, got.header.Get("Location"))
	}
}

func TestAClusterThatCannotBeReadLeavesTheGitView(t *testing.T) {
	t.Parallel()
	c := unreachableCluster(t)
	got := request(t, "GET", serve(t, ui.Options{Repo: dashboardRepo(t), Cluster: c})+"/")
	if got.code != 200 || !strings.Contains(got.body, `<p class="error" id="cluster-error">The cluster could not be read`) ||
		!strings.Contains(cell(t, got.body, "iris-classifier", "prod"), `data-version="1.1.0"`) {
		t.Fatalf("%d:\n%s", got.code, got.body)
	}
}
