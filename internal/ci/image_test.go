package ci_test

import (
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/ci"
)

func TestParseImage(t *testing.T) {
	t.Parallel()
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		name, in, ref string
		ok            bool
	}{
		{"accept a repository pinned by digest", "ghcr.io/acme/models/iris@" + digest, "ghcr.io/acme/models/iris", true},
		{"drop the tag of a tagged reference", "ghcr.io/acme/iris:1.0.0@" + digest, "ghcr.io/acme/iris", true},
		{"keep a registry port", "localhost:5000/iris@" + digest, "localhost:5000/iris", true},
		{"refuse a tag without a digest", "ghcr.io/acme/iris:1.0.0", "", false},
		{"refuse a short digest", "ghcr.io/acme/iris@sha256:abc", "", false},
		{"refuse an uppercase repository", "ghcr.io/Acme/iris@" + digest, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			img, err := ci.ParseImage(tt.in)
			if (err == nil) != tt.ok || tt.ok && (img.Ref != tt.ref || img.Digest != digest) {
				t.Fatalf("ParseImage(%q) = %+v, %v", tt.in, img, err)
			}
		})
	}
}
