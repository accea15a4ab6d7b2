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
// depth, no aliases or merge keys, no duplicate keys, string keys only) except the size cap, which is max bytes.
// Lines are those of the whole file. Empty documents (a bare "---", comments only) are skipped.
//
// A document that breaks a limit is left out and its problem reported; the documents after it are still read. A
// YAML syntax error ends the stream. When any problem was found the error is a *FileError listing all of them,
// and the documents read so far are returned beside it.
func ParseStream(file string, data []byte, max int) ([]*Document, error) {
	if len(data) > max {
		return nil, fileError(file, 0, "", "file is %d bytes, larger than the %d byte limit for manifests", len(data), max)
	}
	if !utf8.Valid(data) {
		return nil, fileError(file, 0, "", "file is not valid UTF-8")
	}
	var docs []*Document
	fe := &FileError{File: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var root yaml.Node
		if err := dec.Decode(&root); err != nil {
			if !errors.Is(err, io.EOF) {
				fe.Problems = append(fe.Problems, Problem{Line: yamlErrLine(err), Message: "not valid YAML/JSON: " + yamlErrMessage(err)})
			}
			break
		}
		node := &root
		if node.Kind == yaml.DocumentNode {
			if len(node.Content) == 0 {
				continue
			}
			node = node.Content[0]
		}
		if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
			continue
		}
		d := &Document{File: file, Root: &root, lines: map[string]int{}, paths: map[string]string{}}
		val, err := d.convert(node, "", "", 0)
		if err != nil {
			var e *FileError
			if errors.As(err, &e) {
				fe.Problems = append(fe.Problems, e.Problems...)
			} else {
				fe.Problems = append(fe.Problems, Problem{Line: node.Line, Message: err.Error()})
			}
			continue
		}
		d.Value = val
		docs = append(docs, d)
	}
	if len(fe.Problems) > 0 {
		return docs, fe
	}
	return docs, nil
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
