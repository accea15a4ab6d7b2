package repo

import (
	"strings"
	"testing"
)

func TestRedactRemovesCredentialsFromMessages(t *testing.T) {
	t.Setenv("MARINA_GIT_TOKEN", "s3cr3t-token")
	for _, msg := range []string{
		`unable to access 'https://bob:hunter2@git.example.com/x.git': 403`,
		"authentication failed for s3cr3t-token",
		`Get "https://oauth2:s3cr3t-token@git.example.com/info/refs": dial tcp`,
	} {
		got := redact(msg)
		for _, secret := range []string{"hunter2", "s3cr3t-token"} {
			if strings.Contains(got, secret) {
				t.Errorf("redact(%q) = %q still holds %q", msg, got, secret)
			}
		}
	}
}
