package oci_test

import (
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/oci"
)

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseURIAcceptsPinnedReferencesOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "oci://127.0.0.1:5000/models/fraud@sha256:" + hex64, want: "127.0.0.1:5000/models/fraud@sha256:" + hex64},
		{in: "registry.example.com/a/b/c@sha256:" + hex64, want: "registry.example.com/a/b/c@sha256:" + hex64},
		{in: "oci://registry.example.com/models/fraud:1.0.0", err: "pin the artifact by digest"},
		{in: "oci://registry.example.com/models/fraud", err: "pin the artifact by digest"},
		{in: "https://registry.example.com/models/fraud@sha256:" + hex64, err: "https:// is not a registry reference"},
		{in: "oci://registry.example.com/Models@sha256:" + hex64, err: "want oci://HOST/REPO@sha256"},
		{in: "oci://registry.example.com/models@sha256:abc", err: "want oci://HOST/REPO@sha256"},
		{in: "oci://", err: "want oci://HOST/REPO@sha256"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			ref, err := oci.ParseURI(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error saying %q", ref, err, tc.err)
				}
				return
			}
			if err != nil || ref.String() != tc.want || ref.URI() != "oci://"+tc.want {
				t.Fatalf("got %v, %v; want %s", ref, err, tc.want)
			}
		})
	}
}

func TestParseRepositoryRefusesADigest(t *testing.T) {
	t.Parallel()
	if _, err := oci.ParseRepository("registry.example.com/models/fraud@sha256:" + hex64); err == nil {
		t.Fatal("a repository to push to took a digest")
	}
	ref, err := oci.ParseRepository("oci://127.0.0.1:5000/models/fraud")
	if err != nil || ref.Host != "127.0.0.1:5000" || ref.Repository != "models/fraud" {
		t.Fatalf("got %+v, %v", ref, err)
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"oci://127.0.0.1:5000/models/fraud@sha256:" + hex64, "a/b:c", "oci://", "x://y", "h/r@sha512:" + hex64 + hex64} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := oci.ParseURI(s)
		if err != nil {
			return
		}
		// What parses names a pinned reference that parses back to itself.
		again, err := oci.ParseURI(ref.URI())
		if err != nil || again != ref || ref.Digest == "" || ref.Host == "" || ref.Repository == "" {
			t.Fatalf("%q parsed to %+v, which reparses to %+v, %v", s, ref, again, err)
		}
	})
}
