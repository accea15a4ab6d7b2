package repo

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

func TestRedactRemovesEveryFormOfACredential(t *testing.T) {
	const token = "s3cr3t/t0ken+x=="
	t.Setenv("MARINA_GIT_TOKEN", token)
	t.Setenv("MARINA_GIT_USERNAME", "bot")
	basic := base64.StdEncoding.EncodeToString([]byte("bot:" + token))
	urlPass := "hunter2%2Fx"
	cases := map[string]string{
		"URL userinfo":                    `unable to access 'https://bob:` + urlPass + `@git.example.com/x.git': 403`,
		"the raw token":                   "authentication failed for " + token,
		"the URL-encoded token":           "GET /info/refs?access_token=" + url.QueryEscape(token),
		"the base64 of user:token":        "server said: Authorization: Basic " + basic,
		"the base64 alone, in a body":     "403 Forbidden: saw " + basic + " which is not allowed",
		"a bearer token nobody announced": "echo: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
		"token inside a URL":              `Get "https://oauth2:` + token + `@git.example.com/info/refs": dial tcp`,
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			got := Redact(msg)
			for _, secret := range []string{token, url.QueryEscape(token), basic, "hunter2", "eyJhbGciOiJIUzI1NiJ9"} {
				if strings.Contains(got, secret) {
					t.Errorf("Redact(%q) = %q still holds %q", msg, got, secret)
				}
			}
		})
	}
	// A credential Push saw in a remote URL is redacted in later messages that carry only its encoded form.
	RememberCredential("alice", "pa55word-xyz")
	alice := base64.StdEncoding.EncodeToString([]byte("alice:pa55word-xyz"))
	if got := Redact("body: " + alice); strings.Contains(got, alice) {
		t.Errorf("base64 of a remembered URL credential survived: %q", got)
	}
	if got := Redact("validated 3 files, 0 errors"); got != "validated 3 files, 0 errors" {
		t.Errorf("a message without credentials changed: %q", got)
	}
}
