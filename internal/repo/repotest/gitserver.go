package repotest

import (
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/marina-dev/marina/internal/prereq"
)

// GitHTTPBackend is Debian's git http-backend, the CGI program GitServer runs.
const GitHTTPBackend = "/usr/lib/git-core/git-http-backend"

// GitAuth is what a GitServer asks of its clients.
type GitAuth struct {
	// Username and Password, when Username is set, are required as HTTP basic auth; anything else gets 401.
	Username, Password string
	// ReadOnly refuses pushes with 403.
	ReadOnly bool
}

// GitServer serves the bare repositories in a directory over HTTP on loopback through git http-backend, the
// smart HTTP protocol every Git client and GitOps engine speaks.
type GitServer struct {
	// URL is the server's base URL: a repository dir/NAME.git is URL + "/NAME.git".
	URL string

	mu   sync.Mutex
	auth GitAuth
}

// ServerTB is what ServeGit needs of its caller: testing.TB satisfies it, and so does internal/testenv.TB.
type ServerTB interface {
	prereq.TB
	Cleanup(f func())
}

// ServeGit serves the bare repositories in root on a free loopback port until the test ends. Without git
// http-backend the test is skipped, or fails where prerequisites are required (see package prereq).
func ServeGit(tb ServerTB, root string, auth GitAuth) *GitServer {
	tb.Helper()
	return ServeGitAt(tb, "127.0.0.1:0", root, auth)
}

// ServeGitAt is ServeGit listening on addr (HOST:PORT; port 0 picks a free one): on an address beyond loopback,
// Pods on a real node reach it.
func ServeGitAt(tb ServerTB, addr, root string, auth GitAuth) *GitServer {
	tb.Helper()
	if _, err := os.Stat(GitHTTPBackend); err != nil {
		prereq.Missing(tb, "no git http-backend: "+err.Error()+" (install git)")
	}
	backend := &cgi.Handler{Path: GitHTTPBackend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	s := &GitServer{auth: auth}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := s.Auth()
		if u, p, ok := r.BasicAuth(); a.Username != "" && (!ok || u != a.Username || p != a.Password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		if a.ReadOnly && (r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack")) {
			http.Error(w, "pushing is not allowed", http.StatusForbidden)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal("git server on " + addr + ": " + err.Error())
	}
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// RepoURL is the URL of the bare repository bare, which must be in the served directory.
func (s *GitServer) RepoURL(bare string) string { return s.URL + "/" + filepath.Base(bare) }

// Auth returns what the server asks of clients now.
func (s *GitServer) Auth() GitAuth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auth
}

// SetAuth changes what the server asks of clients from the next request on: a test can make a server that
// worked start refusing credentials.
func (s *GitServer) SetAuth(a GitAuth) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = a
}
