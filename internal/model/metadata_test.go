package model_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo"
)

func TestParseSemverRefusesBuildMetadata(t *testing.T) {
	t.Parallel()
	cases := []struct {
		version string
		want    string // "" means accepted
	}{
		{"1.0.0", ""},
		{"1.0.0-rc.1", ""},
		{"1.0.0+build.7", "same precedence as 1.0.0"},
		{"1.0.0-rc.1+sha.abc", "build metadata"},
		{"v1.0.0", "not a semantic version"},
	}
	for _, c := range cases {
		t.Run(c.version, func(t *testing.T) {
			t.Parallel()
			_, err := model.ParseSemver(c.version)
			if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("ParseSemver(%q) = %v, want %q", c.version, err, c.want)
			}
		})
	}
}

func TestCompareVersionsOrdersBySemVerPrecedence(t *testing.T) {
	t.Parallel()
	got := []string{"1.10.0", "1.2.0", "not-a-version", "1.2.0-rc.1", "0.9.0", "1.2.0-alpha"}
	slices.SortFunc(got, model.CompareVersions)
	// Numbers compare as numbers, pre-releases before their release; text after digits, as strings compare.
	want := []string{"0.9.0", "1.2.0-alpha", "1.2.0-rc.1", "1.2.0", "1.10.0", "not-a-version"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted %v, want %v", got, want)
	}
}

func TestParseRefusesARegistryFileWithBuildMetadata(t *testing.T) {
	t.Parallel()
	data := `{"name": "m", "version": "1.0.0+build.7", "tag": "v1.0.0+build.7-abcdef0", "format": "onnx",
  "artifact": {"uri": "s3://b/m", "digest": "sha256:` + strings.Repeat("1", 64) + `", "size": 1},
  "created": "2026-01-01T00:00:00Z", "state": "registered"}`
	_, err := model.Parse("models/m/v1.0.0+build.7.json", []byte(data))
	if err == nil || !strings.Contains(err.Error(), "build metadata") {
		t.Fatalf("err = %v, want a refusal of the build metadata", err)
	}
}

func TestLocateAcceptsRemoteURIsAndRepositoryPathsOnly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		uri, remote, path string
		bad               bool
	}{
		{uri: "oci://r.example.com/m@sha256:00", remote: "oci://r.example.com/m@sha256:00"},
		{uri: "s3://b/m.onnx", remote: "s3://b/m.onnx"},
		{uri: "HTTPS://h/m.onnx", remote: "HTTPS://h/m.onnx"},
		{uri: "models/m/artifacts/v1.onnx", path: "models/m/artifacts/v1.onnx"},
		{uri: "/etc/passwd", bad: true},
		{uri: "file:///etc/passwd", bad: true},
		{uri: "file://models/m.onnx", bad: true},
		{uri: "../outside.onnx", bad: true},
		{uri: "models/../../x", bad: true},
		{uri: ".git/config", bad: true},
		{uri: "ftp://h/x", bad: true},
	}
	for _, c := range cases {
		t.Run(c.uri, func(t *testing.T) {
			t.Parallel()
			loc, err := model.Artifact{URI: c.uri}.Locate()
			if c.bad {
				if !errors.Is(err, repo.ErrBadPath) {
					t.Fatalf("Locate(%q) = %+v, %v; want ErrBadPath", c.uri, loc, err)
				}
				return
			}
			if err != nil || loc.Remote != c.remote || loc.Path != c.path {
				t.Fatalf("Locate(%q) = %+v, %v", c.uri, loc, err)
			}
		})
	}
}
