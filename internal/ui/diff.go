package ui

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/marina-dev/marina/internal/model"
)

// changes lists what differs between two versions of a model, as a person reviewing a promotion from prev to cur
// reads it: the artifact (the same file, or its size), the format, opset, inputs and outputs, each metric's change,
// and the signing. Nothing when they are the same.
func changes(prev, cur model.Version) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	switch {
	case prev.Artifact.Digest != "" && prev.Artifact.Digest == cur.Artifact.Digest:
		add("the same model file")
	case prev.Artifact.Size != cur.Artifact.Size:
		add("size %s → %s", size(prev.Artifact.Size), size(cur.Artifact.Size))
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
		was, now []model.Tensor
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
	if signed(prev) != signed(cur) {
		add("%s → %s", signedWord(prev), signedWord(cur))
	}
	return out
}

func orEmpty(s *model.Signature) model.Signature {
	if s == nil {
		return model.Signature{}
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
func tensors(ts []model.Tensor) string {
	if len(ts) == 0 {
		return "not read"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Name + " " + t.DType + " " + shape(t.Shape)
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

func signed(v model.Version) bool {
	return v.Signing != nil && (v.Signing.Bundle != "" || v.Signing.Ref != "")
}

func signedWord(v model.Version) string {
	if signed(v) {
		return "signed"
	}
	return "unsigned"
}
