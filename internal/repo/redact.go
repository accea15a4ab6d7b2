package repo

import (
	"encoding/base64"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// secrets are the credentials this process has used (MARINA_GIT_TOKEN, passwords in remote URLs),
// registered by Push so that Redact can remove them from any message, in every form they travel in.
var secrets struct {
	sync.Mutex
	forms []string
}

// authHeader matches an HTTP Authorization value a server may echo: "Basic <base64>", "Bearer <token>".
var authHeader = regexp.MustCompile(`\b(Basic|Bearer|BASIC|BEARER|basic|bearer)(\s+|%20)[A-Za-z0-9+/=._~%-]{8,}`)

// RememberCredential registers a username and secret with Redact (push and the controller's write-back do): the secret raw, URL-encoded and inside the
// base64 of "user:secret" that HTTP basic auth sends.
func RememberCredential(user, secret string) {
	if secret == "" {
		return
	}
	forms := []string{secret, url.QueryEscape(secret), url.PathEscape(secret), (&url.URL{User: url.UserPassword(user, secret)}).User.String()}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(user+":"+secret)), enc.EncodeToString([]byte(secret)))
	}
	secrets.Lock()
	defer secrets.Unlock()
	for _, f := range forms {
		if len(f) >= 4 && !slices.Contains(secrets.forms, f) {
			secrets.forms = append(secrets.forms, f)
		}
	}
	// Longest first, so a form containing another is replaced whole.
	for i := 1; i < len(secrets.forms); i++ {
		for j := i; j > 0 && len(secrets.forms[j]) > len(secrets.forms[j-1]); j-- {
			secrets.forms[j], secrets.forms[j-1] = secrets.forms[j-1], secrets.forms[j]
		}
	}
}

// Redact removes Git credentials from msg: MARINA_GIT_TOKEN and every credential Push used, raw,
// URL-encoded or base64-encoded with its user; userinfo in URLs; Basic and Bearer authorization values.
// Every message marina prints to stderr (errors and logs) goes through it (RedactWriter).
func Redact(msg string) string {
	if tok := os.Getenv("MARINA_GIT_TOKEN"); tok != "" {
		RememberCredential(gitUsername(), tok)
	}
	for _, f := range strings.Fields(msg) {
		u, err := url.Parse(strings.Trim(f, `"'(),<>`))
		if err != nil || u.User == nil {
			continue
		}
		if p, ok := u.User.Password(); ok {
			RememberCredential(u.User.Username(), p)
		}
		msg = strings.ReplaceAll(msg, u.User.String()+"@", "***@")
	}
	secrets.Lock()
	forms := secrets.forms
	secrets.Unlock()
	for _, f := range forms {
		msg = strings.ReplaceAll(msg, f, "***")
	}
	return authHeader.ReplaceAllString(msg, "$1 ***")
}

// RedactWriter is w with Redact applied to each write: the one place errors and logs pass on their
// way out of the process.
func RedactWriter(w io.Writer) io.Writer { return redactWriter{w} }

type redactWriter struct{ w io.Writer }

func (r redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// gitUsername is MARINA_GIT_USERNAME, default "marina".
func gitUsername() string {
	if u := os.Getenv("MARINA_GIT_USERNAME"); u != "" {
		return u
	}
	return "marina"
}
