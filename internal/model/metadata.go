package model

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/marina-dev/marina/schemas"
)

// Dir is where registered versions live.
const Dir = "models"

// File is the repository path of a version's metadata: models/<name>/v<version>.json.
func File(name, version string) string {
	return path.Join(Dir, name, "v"+version+".json")
}

// SignatureFile is the repository path of a version's signature (a Sigstore bundle written by marina model sign):
// models/<name>/signatures/v<version>.sigstore.json, in a directory of its own so nothing takes it for a version.
func SignatureFile(name, version string) string {
	return path.Join(Dir, name, "signatures", "v"+version+".sigstore.json")
}

// ParseSemver parses a strict semantic version ("1.2.3", no leading "v").
func ParseSemver(s string) (*semver.Version, error) {
	v, err := semver.StrictNewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("version %q is not a semantic version like 1.2.3 (%v)", s, err)
	}
	if v.Metadata() != "" {
		base := strings.SplitN(s, "+", 2)[0]
		return nil, fmt.Errorf("version %q has build metadata (+%s), which marina does not accept: SemVer gives it the same precedence as %s, so the two could not be told apart, and Kubernetes label values cannot hold '+'; register a new version and record the build with --label build=%s", s, v.Metadata(), base, v.Metadata())
	}
	return v, nil
}

// CompareVersions orders versions by SemVer precedence, for slices.SortFunc. A string that is not a version
// compares as text, so that a broken file still sorts the same way every time.
func CompareVersions(a, b string) int {
	va, errA := ParseSemver(a)
	vb, errB := ParseSemver(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return va.Compare(vb)
}

// Parse decodes and checks one metadata file; the file name must match its name and version.
func Parse(file string, data []byte) (*Version, error) {
	var v Version
	if err := schemas.Decode(schemas.ModelVersion, file, data, &v); err != nil {
		return nil, err
	}
	if _, err := ParseSemver(v.Version); err != nil {
		return nil, &schemas.FileError{File: file, Problems: []schemas.Problem{{Path: "version", Message: err.Error()}}}
	}
	if want := File(v.Name, v.Version); file != want && strings.HasPrefix(file, Dir+"/") {
		return nil, &schemas.FileError{File: file, Problems: []schemas.Problem{{
			Path: "name", Message: fmt.Sprintf("name %q and version %q belong in %s; rename the file or fix the fields", v.Name, v.Version, want),
		}}}
	}
	return &v, nil
}

// Marshal renders v as the canonical metadata file: indented JSON with a final newline.
func (v *Version) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
