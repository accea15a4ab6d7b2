package writeback

import (
	"context"
	"errors"
	"fmt"
	"github.com/marina-dev/marina/internal/repo"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	corev1 "k8s.io/api/core/v1"
)

// Secret keys, as Flux's GitRepository reads them.
const (
	KeyUsername    = "username"
	KeyPassword    = "password"
	KeyBearerToken = "bearerToken"
)

// defaultUsername goes with a password-only Secret: forges ignore the user name of a
// token (GitHub, GitLab and Gitea accept any) but basic auth needs one.
const defaultUsername = "git"

// Credentials authenticate to an HTTP(S) remote: basic auth with Username and
// Password (a token), or a bearer token. The zero value sends none.
type Credentials struct {
	Username    string
	Password    string
	BearerToken string
}

// CredentialsFromSecret reads the keys username/password (Flux's convention) or
// bearerToken of s. Errors name the Secret and keys, never a value.
func CredentialsFromSecret(s *corev1.Secret) (Credentials, error) {
	if s == nil {
		return Credentials{}, errors.New("git credentials: no Secret")
	}
	name := s.Name
	if s.Namespace != "" {
		name = s.Namespace + "/" + name
	}
	get := func(k string) string {
		if v, ok := s.Data[k]; ok {
			return strings.TrimRight(string(v), "\r\n") // kubectl --from-file keeps the file's newline
		}
		return strings.TrimRight(s.StringData[k], "\r\n")
	}
	c := Credentials{Username: get(KeyUsername), Password: get(KeyPassword), BearerToken: get(KeyBearerToken)}
	switch {
	case c.BearerToken != "" && (c.Username != "" || c.Password != ""):
		return Credentials{}, fmt.Errorf("git credentials: Secret %s sets both %s and %s/%s: keep one", name, KeyBearerToken, KeyUsername, KeyPassword)
	case c.BearerToken != "":
		return c, nil
	case c.Password != "":
		if c.Username == "" {
			c.Username = defaultUsername
		}
		return c, nil
	case c.Username != "":
		return Credentials{}, fmt.Errorf("git credentials: Secret %s has %s but no %s", name, KeyUsername, KeyPassword)
	case len(s.Data["identity"]) > 0 || s.StringData["identity"] != "":
		return Credentials{}, fmt.Errorf("git credentials: Secret %s holds an SSH identity, which Git write-back does not support yet: use an HTTPS URL with %s/%s", name, KeyUsername, KeyPassword)
	}
	return Credentials{}, fmt.Errorf("git credentials: Secret %s has neither %s/%s nor %s", name, KeyUsername, KeyPassword, KeyBearerToken)
}

// authFor returns the go-git auth method for repoURL: none for local paths and file://,
// and an error for SSH, which is not supported.
func (c Credentials) authFor(repoURL string) (transport.AuthMethod, error) {
	if c == (Credentials{}) {
		return nil, nil
	}
	ep, err := transport.NewEndpoint(repoURL)
	if err != nil {
		return nil, fmt.Errorf("repository URL %s: %w", safeURL(repoURL), err)
	}
	switch ep.Protocol {
	case "http", "https":
		if c.BearerToken != "" {
			return &githttp.TokenAuth{Token: c.BearerToken}, nil
		}
		return &githttp.BasicAuth{Username: c.Username, Password: c.Password}, nil
	case "file":
		return nil, nil
	}
	return nil, fmt.Errorf("repository URL %s: credentials work over HTTP(S) only; use an https:// URL", safeURL(repoURL))
}

// remember registers the credentials with repo.Redact, the one place that takes them out of messages in every
// form they travel in (raw, URL-encoded, base64 of user:secret as HTTP basic auth sends it).
func (c Credentials) remember(repoURL string) {
	user := c.Username
	if user == "" {
		user = "git"
	}
	repo.RememberCredential(user, c.Password)
	repo.RememberCredential(user, c.BearerToken)
	if u, err := url.Parse(repoURL); err == nil && u.User != nil {
		p, _ := u.User.Password()
		repo.RememberCredential(u.User.Username(), p)
	}
}

// safeURL is raw without the user information, for messages.
func safeURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return raw
}

// redactedError is a network error with the secrets taken out of its message. It
// unwraps only to sentinel errors found in the original chain (which hold no secret),
// so errors.Is still tells an authentication failure or a cancelled context apart.
type redactedError struct {
	msg   string
	kinds []error
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.kinds }

// sentinels are the errors a redacted error keeps for errors.Is.
var sentinels = []error{
	transport.ErrAuthenticationRequired, transport.ErrAuthorizationFailed, transport.ErrRepositoryNotFound,
	transport.ErrEmptyRemoteRepository, context.Canceled, context.DeadlineExceeded,
}

// redactErr wraps err, which may hold a secret, as "<what>: <redacted message>" (repo.Redact, with the
// credentials remember registered).
func redactErr(what string, err error) error {
	e := &redactedError{msg: repo.Redact(what + ": " + strings.TrimSpace(err.Error()))}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			e.kinds = append(e.kinds, s)
		}
	}
	return e
}
