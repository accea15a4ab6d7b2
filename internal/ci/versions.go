package ci

import (
	"fmt"
	"io"
	"strings"

	"github.com/marina-dev/marina/internal/model"
)

// WriteVersions writes the Markdown section on a promotion of version to into env, replacing from (nil for a
// first deployment): what a reviewer checks beside the gates — each version's artifact, digest, signature and
// serving image, and what changed between them (model.Changes: the file, the interface, each metric).
func WriteVersions(w io.Writer, env string, from, to *model.Version) error {
	var b strings.Builder
	versions := []*model.Version{to}
	fmt.Fprintf(&b, "### %s in %s\n\n| |", code(to.Name), code(env))
	if from != nil {
		versions = []*model.Version{from, to}
		fmt.Fprintf(&b, " %s (running) |", code(from.Version))
	}
	fmt.Fprintf(&b, " %s |\n|---|%s\n", code(to.Version), strings.Repeat("---|", len(versions)))
	for _, row := range []struct {
		name  string
		value func(v *model.Version) string
	}{
		{"state", func(v *model.Version) string { return md(v.State) }},
		{"artifact", func(v *model.Version) string { return code(v.Artifact.URI) }},
		{"digest", func(v *model.Version) string { return code(v.Artifact.Digest) }},
		{"signature", signature},
		{"serving image", func(v *model.Version) string {
			if v.Image == nil {
				return "—"
			}
			return code(v.Image.String())
		}},
	} {
		fmt.Fprintf(&b, "| %s |", row.name)
		for _, v := range versions {
			fmt.Fprintf(&b, " %s |", row.value(v))
		}
		b.WriteString("\n")
	}
	if from != nil {
		fmt.Fprintf(&b, "\nFrom %s to %s:\n\n", code(from.Version), code(to.Version))
		for _, c := range model.Changes(*from, *to) {
			fmt.Fprintf(&b, "- %s\n", md(c))
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// signature says where version v's signature is: a Sigstore bundle in the repository, one in a registry, or none.
func signature(v *model.Version) string {
	switch {
	case !v.Signed():
		return "not signed"
	case v.Signing.Bundle != "":
		return "bundle " + code(v.Signing.Bundle)
	}
	return "in the registry, " + code(v.Signing.Ref)
}
