package testenv

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/marina-dev/marina/internal/testenv/proc"
)

// GiteaVersion is the Gitea version hack/gitea.sh builds; it names the cache directory.
const GiteaVersion = "v1.27.3"

// GiteaAsset is the directory hack/gitea.sh prints: the gitea binary with its templates and options.
var GiteaAsset = Asset{Env: "MARINA_GITEA_ASSETS", Sub: filepath.Join("gitea", GiteaVersion), Probe: "gitea",
	Script: "hack/gitea.sh", Cost: "~8 min once"}

// Gitea is a Gitea server run by a test on loopback: a real forge, with its REST API (/api/v1) and Git over HTTP.
type Gitea struct {
	// URL is the server's base URL, http://127.0.0.1:PORT, without a trailing slash.
	URL string
	// Admin is a site administrator with a password and a token; Bot is an account of Gitea's bot type (no
	// password: its token is its only credential), as an automation such as marina would use.
	Admin, Bot GiteaUser
	// Dir holds the server's app.ini, SQLite database, repositories and gitea.log, inside the test's TempDir.
	Dir string

	proc *proc.Process
}

// GiteaUser is an account StartGitea created.
type GiteaUser struct {
	Name, Email string
	// Password is empty for the bot, which Gitea lets sign in with tokens only.
	Password string
	// Token is a personal access token of the user's with every scope ("all"). Git over HTTP takes it as the
	// password of basic auth, the API as "Authorization: token TOKEN".
	Token string
}

// StartGitea runs Gitea (from hack/gitea.sh) for the test on a free loopback port until the test ends: SQLite in
// the test's TempDir, install locked, offline (no Gravatar, no CDN), without mailer, SSH, LFS, Actions, packages or
// self-registration. Before it serves, Gitea's CLI creates the two accounts of Gitea.Admin and Gitea.Bot with a
// token each. It returns once GET /api/v1/version answers. Without the asset the test is skipped with a hint, or
// fails where prerequisites are required (see package prereq). gitea.log is printed when the test fails.
func StartGitea(tb TB) *Gitea {
	tb.Helper()
	assets := cached(tb, GiteaAsset)
	g := &Gitea{Dir: tb.TempDir()}
	addr := freeAddr(tb)
	g.URL = "http://" + addr
	_, port, _ := strings.Cut(addr, ":")
	runUser := "root"
	if u, err := user.Current(); err == nil {
		runUser = u.Username
	}
	config := filepath.Join(g.Dir, "app.ini")
	// Gitea writes the secrets it generates (INTERNAL_TOKEN, JWT secrets) back into app.ini on first start.
	writeFile(tb, config, fmt.Appendf(nil, `APP_NAME = marina test forge
RUN_MODE = prod
RUN_USER = %[1]s
WORK_PATH = %[2]s

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]s
DOMAIN = 127.0.0.1
ROOT_URL = %[4]s/
APP_DATA_PATH = %[2]s/data
STATIC_ROOT_PATH = %[5]s
OFFLINE_MODE = true
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = %[2]s/data/gitea.db

[repository]
ROOT = %[2]s/repositories
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = %[6]s

[service]
DISABLE_REGISTRATION = true
ENABLE_NOTIFY_MAIL = false

[mailer]
ENABLED = false

[actions]
ENABLED = false

[packages]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[log]
MODE = console
LEVEL = info
ROOT_PATH = %[2]s/log
`, runUser, g.Dir, port, g.URL, assets, rand.Text()))

	bin := filepath.Join(assets, "gitea")
	// Gitea refuses to run as root unless told to; the tests' machines run them as root.
	env := append(os.Environ(), "HOME="+g.Dir, "GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true")
	gitea := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, append([]string{"--work-path", g.Dir, "--config", config}, args...)...)
		cmd.Env = env
		return cmd
	}
	// The CLI needs the database's tables, which only `gitea migrate` and `gitea web` make.
	if out, err := gitea("migrate").CombinedOutput(); err != nil {
		tb.Fatalf("gitea migrate: %v\n%s", err, out)
	}
	g.Admin = GiteaUser{Name: "marina-admin", Email: "admin@marina.test", Password: rand.Text()}
	g.Admin.Token = createGiteaUser(tb, gitea, g.Admin.Name, "--email", g.Admin.Email, "--admin",
		"--password", g.Admin.Password, "--must-change-password=false")
	g.Bot = GiteaUser{Name: "marina-bot", Email: "bot@marina.test"}
	g.Bot.Token = createGiteaUser(tb, gitea, g.Bot.Name, "--email", g.Bot.Email, "--user-type", "bot")

	p, err := proc.Start(gitea("web"), filepath.Join(g.Dir, "gitea.log"))
	if err != nil {
		tb.Fatalf("gitea: %v", err)
	}
	g.proc = p
	tb.Cleanup(func() {
		p.Stop(10 * time.Second)
		if tb.Failed() {
			tb.Logf("gitea.log:\n%s", g.Log())
		}
	})
	g.waitReady(tb)
	return g
}

// createGiteaUser runs `gitea admin user create` for name with args and a token of every scope, and returns the
// token. Its output is not logged on success: it holds the token.
func createGiteaUser(tb TB, gitea func(...string) *exec.Cmd, name string, args ...string) string {
	tb.Helper()
	cmd := gitea(append([]string{"admin", "user", "create", "--username", name, "--access-token",
		"--access-token-name", "marina-test", "--access-token-scopes", "all"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("gitea admin user create --username %s: %v\n%s", name, err, out)
	}
	const prefix = "Access token was successfully created... "
	for line := range strings.Lines(string(out)) {
		if token, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok && token != "" {
			return token
		}
	}
	tb.Fatalf("gitea admin user create --username %s printed no access token", name)
	return ""
}

// Log returns the end of gitea.log (its last 8 KiB).
func (g *Gitea) Log() string {
	log, _ := os.ReadFile(filepath.Join(g.Dir, "gitea.log"))
	return string(log[max(0, len(log)-8192):])
}

// waitReady polls GET /api/v1/version until it answers 200, for up to a minute (gitea.log is logged by
// StartGitea's cleanup when the test fails).
func (g *Gitea) waitReady(tb TB) {
	tb.Helper()
	waitServing(tb, "gitea", http.DefaultClient, g.URL+"/api/v1/version", g.proc, time.Minute, func() string { return "" }, http.StatusOK)
}
