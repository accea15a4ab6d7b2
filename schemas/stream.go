package schemas

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxManifestSize is the largest Kubernetes manifest file ParseStream callers should accept: rendered or
// third-party manifests (a CRD bundle, a device plugin) are larger than marina's own files.
const MaxManifestSize = 8 << 20

// ParseStream reads every document of a YAML stream such as a Kubernetes manifest file, with Parse's limits (UTF-8,
// depth, no duplicate keys, string keys only) except the size cap, which is max bytes, and except that anchors,
// aliases and merge keys are accepted, as kubectl, kustomize and the GitOps engines accept them, with at most
// MaxAliasExpansion values expanded from aliases per document. Lines are those of the whole file. Empty documents
// (a bare "---", comments only) are skipped.
//
// The stream is split at its "---" lines first, so a document that does not parse or breaks a limit is left out and
// its problem reported (always with a line) while the documents after it are still read. When any problem was found
// the error is a *FileError listing all of them, and the documents read are returned beside it.
func ParseStream(file string, data []byte, max int) ([]*Document, error) {
	if len(data) > max {
		return nil, fileError(file, 1, "", "file is %d bytes, larger than the %d byte limit for manifests", len(data), max)
	}
	if !utf8.Valid(data) {
		return nil, fileError(file, invalidUTF8Line(data), "", "file is not valid UTF-8")
	}
	var docs []*Document
	fe := &FileError{File: file}
	for _, c := range splitDocuments(data) {
		d, problems := parseChunk(file, c)
		fe.Problems = append(fe.Problems, problems...)
		if d != nil {
			docs = append(docs, d)
		}
	}
	if len(fe.Problems) > 0 {
		return docs, fe
	}
	return docs, nil
}

// MaxAliasExpansion caps the values one manifest document may expand from YAML aliases, against alias bombs.
const MaxAliasExpansion = 100_000

// chunk is one document of a stream: its text and the line of the file it starts on.
type chunk struct {
	data []byte
	line int
}

// splitDocuments splits a YAML stream at its document markers: lines that start with "---" followed by nothing, a
// space, a tab or a comment. A marker at the start of a line always ends the document before it (YAML 1.2, 9.1.3),
// even inside a block scalar, so splitting the text is what a parser would do, and one broken document cannot swallow
// the next. The marker line stays with the document it starts ("--- {a: 1}" is content).
func splitDocuments(data []byte) []chunk {
	var out []chunk
	start, startLine, line := 0, 1, 1
	for i := 0; i < len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data)
		if end >= 0 {
			next = i + end + 1
		}
		if i > start && isMarker(data[i:next]) {
			out = append(out, chunk{data: data[start:i], line: startLine})
			start, startLine = i, line
		}
		i = next
		line++
	}
	return append(out, chunk{data: data[start:], line: startLine})
}

func isMarker(l []byte) bool {
	rest, ok := bytes.CutPrefix(l, []byte("---"))
	return ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r' || rest[0] == '#')
}

// parseChunk parses one document; nil without problems for an empty one.
func parseChunk(file string, c chunk) (*Document, []Problem) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(c.data)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		line := yamlErrLine(err)
		if line == 0 {
			line = 1
		}
		return nil, []Problem{{Line: c.line + line - 1, Message: "not valid YAML/JSON: " + yamlErrMessage(err)}}
	}
	shiftLines(&root, c.line-1)
	node := &root
	if node.Kind == yaml.DocumentNode {
		if len(node.Content) == 0 {
			return nil, nil
		}
		node = node.Content[0]
	}
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return nil, nil
	}
	d := &Document{File: file, Root: &root, lines: Lines{}, paths: map[string]string{}, aliases: MaxAliasExpansion}
	val, err := d.convert(node, "", "", 0)
	if err != nil {
		var e *FileError
		if errors.As(err, &e) {
			return nil, e.Problems
		}
		return nil, []Problem{{Line: node.Line, Message: err.Error()}}
	}
	d.Value = val
	return d, nil
}

// shiftLines adds offset to the line of every node of a document parsed on its own. Aliases are not followed:
// their targets are in the tree already.
func shiftLines(n *yaml.Node, offset int) {
	if offset == 0 {
		return
	}
	n.Line += offset
	for _, c := range n.Content {
		shiftLines(c, offset)
	}
}

// invalidUTF8Line is the line of the first byte that is not UTF-8.
func invalidUTF8Line(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return line
		}
		if r == '\n' {
			line++
		}
		i += size
	}
	return line
}

// Path returns the field path (e.g. spec.template.spec.containers[0].image) of the value at JSON pointer ptr, or
// "" when the document has no such value.
func (d *Document) Path(ptr string) string { return d.paths[ptr] }

// LineOfPath returns the line of the field with the given field path (as in Problem.Path), or 0.
func (d *Document) LineOfPath(path string) int {
	for ptr, p := range d.paths {
		if p == path {
			return d.lines[ptr]
		}
	}
	return 0
}
