package model

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Changes lists what differs between two versions of a model, as a person reviewing a promotion from prev to cur
// reads it: the artifact (the same file, or its size), the format, opset, inputs and outputs, each metric's change,
// and the signing. Nothing when they are the same.
func Changes(prev, cur Version) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	switch {
	case prev.Artifact.Digest != "" && prev.Artifact.Digest == cur.Artifact.Digest:
		add("the same model file")
	case prev.Artifact.Size != cur.Artifact.Size:
		add("size %s → %s", FormatSize(prev.Artifact.Size), FormatSize(cur.Artifact.Size))
	}
	if prev.Format != cur.Format {
		add("format %s → %s", prev.Format, cur.Format)
	}
	ps, cs := orEmpty(prev.Signature), orEmpty(cur.Signature)
	if ps.Opset != cs.Opset {
		add("opset %s → %s", opset(ps.Opset), opset(cs.Opset))
	}
	for _, io := range []struct {
		name     string
		was, now []Tensor
	}{{"inputs", ps.Inputs, cs.Inputs}, {"outputs", ps.Outputs, cs.Outputs}} {
		if was, now := tensors(io.was), tensors(io.now); was != now {
			add("%s %s → %s", io.name, was, now)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(merged(prev.Metrics, cur.Metrics))) {
		was, hadIt := prev.Metrics[k]
		now, hasIt := cur.Metrics[k]
		switch {
		case !hadIt:
			add("%s %s (new)", k, number(now))
		case !hasIt:
			add("%s no longer measured (was %s)", k, number(was))
		case was != now:
			add("%s %s → %s (%+.4g)", k, number(was), number(now), now-was)
		}
	}
	if prev.Signed() != cur.Signed() {
		add("%s → %s", signedWord(prev), signedWord(cur))
	}
	return out
}

func orEmpty(s *Signature) Signature {
	if s == nil {
		return Signature{}
	}
	return *s
}

func opset(n int64) string {
	if n == 0 {
		return "unknown"
	}
	return strconv.FormatInt(n, 10)
}

// tensors is a list of tensors as the versions table shows them: name dtype [shape], comma-separated.
func tensors(ts []Tensor) string {
	if len(ts) == 0 {
		return "not read"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Name + " " + t.DType + " " + FormatShape(t.Shape)
	}
	return strings.Join(parts, ", ")
}

func merged(a, b map[string]float64) map[string]float64 {
	m := maps.Clone(a)
	if m == nil {
		m = map[string]float64{}
	}
	maps.Copy(m, b)
	return m
}

func number(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Signed reports whether the version records a signature: a Sigstore bundle in the repository or one in a registry.
func (v Version) Signed() bool {
	return v.Signing != nil && (v.Signing.Bundle != "" || v.Signing.Ref != "")
}

func signedWord(v Version) string {
	if v.Signed() {
		return "signed"
	}
	return "unsigned"
}

// FormatSize is a byte count in binary units, one decimal from KiB up.
func FormatSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if f < 1024 {
			break
		}
		f, unit = f/1024, u
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + unit
}

// FormatShape is a tensor's shape as [?, 4]: ? for a dynamic dimension, "rank unknown" when the model does not say.
func FormatShape(dims []int64) string {
	if dims == nil {
		return "rank unknown"
	}
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = "?"
		if d >= 0 {
			parts[i] = strconv.FormatInt(d, 10)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
