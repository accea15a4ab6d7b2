package writeback

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func secret(data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "models", Name: "git"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestCredentialsFromSecret(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		secret  *corev1.Secret
		want    Credentials
		wantErr string
	}{
		{"read username and password", secret(map[string]string{"username": "bot", "password": "tok3n\n"}), Credentials{Username: "bot", Password: "tok3n"}, ""},
		{"default the username of a password-only token", secret(map[string]string{"password": "tok3n"}), Credentials{Username: "git", Password: "tok3n"}, ""},
		{"read a bearer token", secret(map[string]string{"bearerToken": "tok3n"}), Credentials{BearerToken: "tok3n"}, ""},
		{"read stringData too", &corev1.Secret{StringData: map[string]string{"password": "tok3n"}}, Credentials{Username: "git", Password: "tok3n"}, ""},
		{"refuse both kinds", secret(map[string]string{"bearerToken": "tok3n", "password": "tok3n"}), Credentials{}, "sets both bearerToken and username/password"},
		{"refuse a username alone", secret(map[string]string{"username": "tok3n"}), Credentials{}, "has username but no password"},
		{"refuse an SSH identity", secret(map[string]string{"identity": "tok3n"}), Credentials{}, "SSH identity"},
		{"refuse an empty Secret", secret(nil), Credentials{}, "Secret models/git has neither"},
		{"refuse no Secret", nil, Credentials{}, "git credentials: no Secret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := CredentialsFromSecret(c.secret)
			if c.wantErr == "" {
				if err != nil || got != c.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), "tok3n") {
				t.Fatalf("the error shows a value: %v", err)
			}
		})
	}
}

func TestAuthForSendsCredentialsOverHTTPOnly(t *testing.T) {
	t.Parallel()
	basic := Credentials{Username: "bot", Password: "tok3n"}
	cases := []struct {
		name    string
		creds   Credentials
		url     string
		want    string
		wantErr bool
	}{
		{"basic auth over HTTPS", basic, "https://git.example.com/models.git", "http-basic-auth", false},
		{"a bearer token over HTTPS", Credentials{BearerToken: "tok3n"}, "https://git.example.com/models.git", "http-token-auth", false},
		{"nothing for a local repository", basic, "file:///srv/models.git", "", false},
		{"nothing without credentials", Credentials{}, "ssh://git@git.example.com/models.git", "", false},
		{"refuse credentials over SSH", basic, "ssh://git@git.example.com/models.git", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.creds.authFor(c.url)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			name := ""
			if got != nil {
				name = got.Name()
			}
			if name != c.want {
				t.Fatalf("auth %q, want %q", name, c.want)
			}
		})
	}
}

func TestRedactedErrorsHideSecretsAndKeepTheirKind(t *testing.T) {
	t.Parallel()
	Credentials{Username: "alice", Password: "hunter2"}.remember("https://bob:s3cr3t@git.example.com/x.git")
	// A server that echoes the Authorization header puts base64("alice:hunter2") in the error.
	basic := base64.StdEncoding.EncodeToString([]byte("alice:hunter2"))
	err := redactErr("fetching", fmt.Errorf(`Get "https://bob:s3cr3t@git.example.com/x.git": %w (sent hunter2, Authorization: Basic %s, echoed %s)`,
		transport.ErrAuthenticationRequired, basic, basic))
	if got := err.Error(); strings.Contains(got, "s3cr3t") || strings.Contains(got, "hunter2") || strings.Contains(got, basic) || !strings.Contains(got, "https://***@git.example.com") {
		t.Fatalf("redacted: %q", got)
	}
	if !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Fatal("the error no longer says authentication was required")
	}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		if strings.Contains(e.Error(), "hunter2") || strings.Contains(e.Error(), "s3cr3t") || strings.Contains(e.Error(), basic) {
			t.Fatalf("an unwrapped error shows a secret: %v", e)
		}
	}
}
