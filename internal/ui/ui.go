package ui

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/marina-dev/marina/internal/analysis"
	"github.com/marina-dev/marina/internal/httpserver"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/status"
)

// Options configure the dashboard.
type Options struct {
	// Repo is a directory inside the model repository, as marina's --repo: the repository is opened from it on
	// each request, so the pages follow commits and edits made while the dashboard runs.
	Repo string
	// Cluster, when not nil, adds to each environment what that cluster runs and whether it is in sync with Git.
	Cluster *status.Cluster
	// Prometheus, when not nil, is the server rollout pages chart the shadow version's comparison from: the
	// router's metrics, scraped with a namespace label as Kubernetes service discovery adds it.
	Prometheus analysis.RangeQuerier
	// Token, when not empty, is required on every request: as Authorization: Bearer TOKEN, or once as ?token=TOKEN,
	// which sets a cookie for the requests that follow.
	Token string
	// Now is the clock relative times count from; nil means time.Now.
	Now func() time.Time
	// Log receives the requests that failed; nil discards.
	Log *slog.Logger
}

// ContentSecurityPolicy is every response's policy: no script, no frame, no form, styles and images from the
// dashboard itself only.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// cookieName is the session cookie a first visit with ?token= gets.
const cookieName = "marina-ui"

var (
	//go:embed templates/*.html style.css
	files embed.FS
	// The pages, each the layout with its own content block, parsed when first served: parsing them all took 27 ms,
	// a third of the start of every marina command, at package initialisation (GODEBUG=inittrace=1).
	matrixTemplate  = page("matrix.html")
	modelTemplate   = page("model.html")
	errorTemplate   = page("error.html")
	rolloutTemplate = page("rollout.html")
)

func page(name string) func() *template.Template {
	return sync.OnceValue(func() *template.Template {
		return template.Must(template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+name))
	})
}

// dashboard is the handler NewHandler returns.
type dashboard struct {
	opts   Options
	mux    *http.ServeMux
	cookie string // the session cookie's value: derived from the token, so the cookie does not hold the token itself
}

// NewHandler returns the dashboard: GET or HEAD / (the matrix), /models/{name} (a model's page),
// /rollouts/{namespace}/{name} (a ModelDeployment's rollout, with a cluster) and /style.css.
func NewHandler(opts Options) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	d := &dashboard{opts: opts, mux: http.NewServeMux()}
	if opts.Token != "" {
		mac := hmac.New(sha256.New, []byte(opts.Token))
		mac.Write([]byte("marina ui session"))
		d.cookie = hex.EncodeToString(mac.Sum(nil))
	}
	d.mux.HandleFunc("GET /{$}", d.matrix)
	d.mux.HandleFunc("GET /models/{name}", d.model)
	d.mux.HandleFunc("GET /rollouts/{namespace}/{name}", d.rollout)
	d.mux.HandleFunc("GET /style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		http.ServeFileFS(w, r, files, "style.css")
	})
	d.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		d.fail(w, r, http.StatusNotFound, "Not found", fmt.Sprintf("nothing at %s: the dashboard has the matrix at / and one page per model at /models/NAME and one per ModelDeployment at /rollouts/NAMESPACE/NAME", r.URL.Path))
	})
	return d
}

func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		d.fail(w, r, http.StatusMethodNotAllowed, "Method not allowed", fmt.Sprintf("%s: the dashboard is read-only, it answers GET and HEAD", r.Method))
		return
	}
	if d.opts.Token != "" && !d.authorize(w, r) {
		return
	}
	d.mux.ServeHTTP(w, r)
}

// authorize lets a request with the token through. A first visit with ?token=TOKEN gets the session cookie and is
// sent to the same page without the token in its address; any other request without the token gets a 401.
func (d *dashboard) authorize(w http.ResponseWriter, r *http.Request) bool {
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equal(bearer, d.opts.Token) {
		return true
	}
	if c, err := r.Cookie(cookieName); err == nil && equal(c.Value, d.cookie) {
		return true
	}
	q := r.URL.Query()
	if q.Has("token") && equal(q.Get("token"), d.opts.Token) {
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: d.cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		q.Del("token")
		// One leading slash: "//host/" would send the browser to another host.
		to := "/" + strings.TrimLeft(r.URL.Path, "/")
		if len(q) > 0 {
			to += "?" + q.Encode()
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="marina ui"`)
	d.fail(w, r, http.StatusUnauthorized, "Token required", "this marina ui needs its token: open the address once with ?token=TOKEN (it then sets a cookie), or send Authorization: Bearer TOKEN")
	return false
}

// equal compares a presented secret with the expected one in constant time, lengths included.
func equal(presented, want string) bool {
	a, b := sha256.Sum256([]byte(presented)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// read opens the repository for one request, finishing an operation a killed marina left behind as every
// read-only command does, and runs fn on it.
func (d *dashboard) read(fn func(*repo.Repo) error) error {
	r, err := repo.Open(d.opts.Repo)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Recover(); err != nil {
		return err
	}
	return fn(r)
}

// render executes a page into a buffer first, so that a template error is a 500 page rather than half a page.
func (d *dashboard) render(w http.ResponseWriter, r *http.Request, code int, t *template.Template, data any) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
		d.opts.Log.Error("rendering a page", "path", r.URL.Path, "error", err)
		http.Error(w, "internal error: the page did not render (see marina ui's log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// errorView is the error page.
type errorView struct {
	layout
	Status  int
	Message string
}

// fail answers with the error page; its message passes marina's filter of credentials.
func (d *dashboard) fail(w http.ResponseWriter, r *http.Request, code int, title, message string) {
	if code >= http.StatusInternalServerError {
		d.opts.Log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "error", message)
	}
	d.render(w, r, code, errorTemplate(), errorView{layout: layout{Title: title, Now: d.opts.Now()}, Status: code, Message: repo.Redact(message)})
}

// ShutdownTimeout is how long Serve lets requests in flight finish once it is told to stop.
const ShutdownTimeout = 10 * time.Second

// Serve serves h on ln until ctx ends, then stops accepting connections and lets requests in flight finish for
// up to ShutdownTimeout.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	return httpserver.Serve(ctx, &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Second, // GET and HEAD only: no body to wait for
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}, ln, ShutdownTimeout)
}
