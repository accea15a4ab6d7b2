package schemas

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed *.schema.json
var files embed.FS

// Schema names one embedded schema by its file name.
type Schema string

// The schemas of marina's own files.
const (
	Project      Schema = "project.schema.json"
	Application  Schema = "application.schema.json"
	ModelVersion Schema = "modelversion.schema.json"
	Pipeline     Schema = "pipeline.schema.json"
)

// Limits on files marina reads from a repository, which may be hostile.
const (
	// MaxFileSize is the largest file of marina's own formats that is read.
	MaxFileSize = 1 << 20
	// MaxDepth is the deepest nesting of mappings and sequences accepted.
	MaxDepth = 64
)

// ErrInvalid is wrapped by every error about a file's content.
var ErrInvalid = errors.New("invalid file")

// Problem is one thing wrong in a file.
type Problem struct {
	// Path is the field, e.g. spec.environments[0].name; empty for the whole document.
	Path string `json:"path,omitempty"`
	// Line is 1-based; 0 when unknown.
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// FileError lists every problem found in one file.
type FileError struct {
	File     string
	Problems []Problem
}

func (e *FileError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		if p.Path != "" {
			fmt.Fprintf(&b, ": %s", p.Path)
		}
		fmt.Fprintf(&b, ": %s", p.Message)
	}
	return b.String()
}

func (e *FileError) Unwrap() error { return ErrInvalid }

func fileError(file string, line int, path, format string, args ...any) *FileError {
	return &FileError{File: file, Problems: []Problem{{Path: path, Line: line, Message: fmt.Sprintf(format, args...)}}}
}

var (
	compileMu sync.Mutex
	compiled  = map[Schema]*jsonschema.Schema{}
)

// compile returns the compiled schema n, compiling it on first use.
func compile(n Schema) (*jsonschema.Schema, error) {
	compileMu.Lock()
	defer compileMu.Unlock()
	if s, ok := compiled[n]; ok {
		return s, nil
	}
	b, err := files.ReadFile(string(n))
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("schemas/%s: %w", n, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(url(n), doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(url(n))
	if err != nil {
		return nil, fmt.Errorf("schemas/%s: %w", n, err)
	}
	compiled[n] = s
	return s, nil
}

func url(n Schema) string { return "https://marina.dev/schemas/" + string(n) }

// Raw returns the text of an embedded schema.
func Raw(n Schema) ([]byte, error) { return files.ReadFile(string(n)) }

// Decode checks data (YAML or JSON) from file against schema s and decodes it into v.
// Every error is a *FileError naming file, field path and line.
func Decode(s Schema, file string, data []byte, v any) error {
	doc, err := Parse(file, data)
	if err != nil {
		return err
	}
	return doc.Decode(s, v)
}

// Document is a parsed YAML or JSON file with the line of every field.
type Document struct {
	File  string
	Value any
	// Root is the YAML node tree, for edits that keep comments.
	Root  *yaml.Node
	lines Lines
	paths map[string]string
	// aliases is how many more values YAML aliases may expand to; 0 refuses aliases and merge keys (marina's
	// own files).
	aliases int
	// yaml11 lists the JSON pointers of plain scalars that YAML 1.2 reads as strings and YAML 1.1 as booleans.
	yaml11 []string
}

// YAML11Booleans returns the JSON pointers of the unquoted scalars (yes, no, on, off, y, n in any of their
// spellings) that this parser, kustomize and Flux read as strings (YAML 1.2) but kubectl and other readers built
// on sigs.k8s.io/yaml read as booleans (YAML 1.1).
func (d *Document) YAML11Booleans() []string { return d.yaml11 }

// yaml11Bools are the plain scalars YAML 1.1 resolves to booleans and YAML 1.2 (core schema) to strings.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

// YAML11Boolean returns the boolean YAML 1.1 reads s as, and whether it reads s as one where YAML 1.2 reads a string.
func YAML11Boolean(s string) (value, ok bool) {
	value, ok = yaml11Bools[s]
	return value, ok
}

// Parse reads one YAML or JSON document with marina's limits: size, UTF-8, depth,
// no aliases, no duplicate keys, string keys only.
func Parse(file string, data []byte) (*Document, error) {
	if len(data) > MaxFileSize {
		return nil, fileError(file, 0, "", "file is %d bytes, larger than the %d byte limit for marina files", len(data), MaxFileSize)
	}
	if !utf8.Valid(data) {
		return nil, fileError(file, 0, "", "file is not valid UTF-8")
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fileError(file, 0, "", "file is empty")
		}
		return nil, fileError(file, yamlErrLine(err), "", "not valid YAML/JSON: %s", yamlErrMessage(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fileError(file, extra.Line, "", "file holds more than one document; marina files hold exactly one")
	}
	d := &Document{File: file, Root: &root, lines: Lines{}, paths: map[string]string{}}
	node := &root
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	val, err := d.convert(node, "", "", 0)
	if err != nil {
		return nil, err
	}
	d.Value = val
	return d, nil
}

func (d *Document) convert(n *yaml.Node, ptr, path string, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, fileError(d.File, n.Line, path, "nested deeper than %d levels", MaxDepth)
	}
	d.lines[ptr] = n.Line
	d.paths[ptr] = path
	switch n.Kind {
	case yaml.AliasNode:
		if d.aliases == 0 {
			return nil, fileError(d.File, n.Line, path, "YAML aliases (*%s) are not allowed in marina files; write the value out", n.Value)
		}
		if d.aliases -= countNodes(n.Alias, d.aliases); d.aliases <= 0 {
			return nil, fileError(d.File, n.Line, path, "YAML aliases expand to more than %d values; write the values out", MaxAliasExpansion)
		}
		line := n.Line
		v, err := d.convert(n.Alias, ptr, path, depth)
		d.lines[ptr] = line
		return v, err
	case yaml.MappingNode:
		// Merge keys first, so the mapping's own fields (and their lines) win over merged ones.
		m, err := d.merged(n, ptr, path, depth)
		if err != nil {
			return nil, err
		}
		own := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				continue
			}
			if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!bool" && k.Tag != "!!float") {
				return nil, fileError(d.File, k.Line, path, "mapping keys must be plain strings")
			}
			if own[k.Value] {
				return nil, fileError(d.File, k.Line, joinPath(path, k.Value), "duplicate key %q", k.Value)
			}
			own[k.Value] = true
			child, err := d.convert(v, ptr+"/"+escapePtr(k.Value), joinPath(path, k.Value), depth+1)
			if err != nil {
				return nil, err
			}
			m[k.Value] = child
			d.lines[ptr+"/"+escapePtr(k.Value)] = k.Line
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			child, err := d.convert(c, ptr+"/"+strconv.Itoa(i), fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return nil, err
			}
			s = append(s, child)
		}
		return s, nil
	case yaml.ScalarNode:
		if n.Style == 0 && n.Tag == "!!str" {
			if outOfRange.MatchString(n.Value) {
				return nil, fileError(d.File, n.Line, path, "%s is a number too large to represent; write a value within range (sizes and counts are at most 9223372036854775807)", n.Value)
			}
			if _, ok := yaml11Bools[n.Value]; ok {
				d.yaml11 = append(d.yaml11, ptr)
			}
		}
		return scalar(n)
	}
	return nil, fileError(d.File, n.Line, path, "unsupported YAML node")
}

// outOfRange matches an unquoted number that YAML left a string because it overflows float64, like -1e309.
var outOfRange = regexp.MustCompile(`^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$`)

// merged returns a new map holding the fields that the merge keys of mapping n (<<: *base, or <<: [*a, *b])
// bring in; of several mappings the first wins, as YAML's merge key type says. Merge keys are refused where
// aliases are (marina's own files).
func (d *Document) merged(n *yaml.Node, ptr, path string, depth int) (map[string]any, error) {
	m := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag != "!!merge" {
			continue
		}
		if d.aliases == 0 {
			return nil, fileError(d.File, k.Line, path, "YAML merge keys (<<) are not allowed in marina files; write the fields out")
		}
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for j := len(sources) - 1; j >= 0; j-- {
			src := sources[j]
			target := src
			if target.Kind == yaml.AliasNode {
				target = target.Alias
			}
			if target.Kind != yaml.MappingNode {
				return nil, fileError(d.File, src.Line, path, "a merge key (<<) takes a mapping or a list of mappings")
			}
			val, err := d.convert(src, ptr, path, depth)
			if err != nil {
				return nil, err
			}
			for f, fv := range val.(map[string]any) {
				m[f] = fv
			}
		}
	}
	d.lines[ptr] = n.Line
	d.paths[ptr] = path
	return m, nil
}

// countNodes counts the values under n, stopping once it passes limit.
func countNodes(n *yaml.Node, limit int) int {
	count := 1
	for _, c := range n.Content {
		if count > limit {
			break
		}
		if c.Kind == yaml.AliasNode {
			count += countNodes(c.Alias, limit-count)
			continue
		}
		count += countNodes(c, limit-count)
	}
	return count
}

func scalar(n *yaml.Node) (any, error) {
	switch n.Tag {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			var f float64
			err = n.Decode(&f)
			return f, err
		}
		return json.Number(strconv.FormatInt(i, 10)), nil
	case "!!float":
		var f float64
		err := n.Decode(&f)
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), err
	}
	return n.Value, nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	if strings.ContainsAny(key, ".[]") {
		return fmt.Sprintf("%s[%q]", path, key)
	}
	return path + "." + key
}

var ptrEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func escapePtr(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return ptrEscaper.Replace(s)
}

// Line returns the line of the field at JSON pointer ptr, or 0.
func (d *Document) Line(ptr string) int { return d.lines[ptr] }

// Lines is where the values of a document are: JSON pointer → line.
type Lines map[string]int

// Line is the line of the value at JSON pointer ptr, or 0.
func (l Lines) Line(ptr string) int { return l[ptr] }

// Lines returns the document's lines, for a caller that keeps them longer than the rest of the document: the
// node tree and the value are many times their size.
func (d *Document) Lines() Lines { return d.lines }

// Decode validates the document against s and decodes it into v.
func (d *Document) Decode(s Schema, v any) error {
	sch, err := compile(s)
	if err != nil {
		return err
	}
	if err := sch.Validate(d.Value); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return fileError(d.File, 0, "", "%v", err)
		}
		fe := &FileError{File: d.File}
		d.collect(s, ve, fe)
		slices.SortStableFunc(fe.Problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
		return fe
	}
	b, err := json.Marshal(d.Value)
	if err != nil {
		return fileError(d.File, 0, "", "%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fileError(d.File, 0, "", "%v", err)
	}
	return nil
}

var printer = message.NewPrinter(language.English)

// collect flattens a validation error tree into one problem per leaf.
func (d *Document) collect(s Schema, ve *jsonschema.ValidationError, fe *FileError) {
	if pn, ok := ve.ErrorKind.(*kind.PropertyNames); ok {
		// The library reuses the location slice of propertyNames errors, so find the key by name.
		ptr := d.keyPointer(pn.Property)
		fe.Problems = append(fe.Problems, Problem{Path: d.paths[ptr], Line: d.lines[ptr], Message: fmt.Sprintf("%q is not an allowed key here", pn.Property)})
		return
	}
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			d.collect(s, c, fe)
		}
		return
	}
	ptr := ""
	for _, t := range ve.InstanceLocation {
		ptr += "/" + escapePtr(t)
	}
	if ap, ok := ve.ErrorKind.(*kind.AdditionalProperties); ok {
		for _, p := range ap.Properties {
			child := ptr + "/" + escapePtr(p)
			fe.Problems = append(fe.Problems, Problem{Path: joinPath(d.paths[ptr], p), Line: d.lines[child], Message: "unknown field (check the spelling; the allowed fields: " + DocsURL(s) + ")"})
		}
		return
	}
	msg := ve.ErrorKind.LocalizedString(printer)
	if _, ok := ve.ErrorKind.(*kind.Not); ok && strings.Contains(ve.SchemaURL, "/relPath") {
		msg = `a path with a ".." segment leaves the directory it is relative to; name a file inside it, like config.yaml`
	}
	fe.Problems = append(fe.Problems, Problem{Path: d.paths[ptr], Line: d.lines[ptr], Message: msg})
}

// keyPointer returns the first (by pointer order) JSON pointer whose last key is key.
func (d *Document) keyPointer(key string) string {
	suffix := "/" + escapePtr(key)
	best := ""
	for ptr := range d.paths {
		if strings.HasSuffix(ptr, suffix) && (best == "" || ptr < best) {
			best = ptr
		}
	}
	return best
}

func yamlErrLine(err error) int {
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		rest := s[i+5:]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if n, err := strconv.Atoi(rest[:j]); err == nil {
			return n
		}
	}
	return 0
}

func yamlErrMessage(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: ")
	if i := strings.Index(s, ": "); i >= 0 && strings.HasPrefix(s, "line ") {
		return s[i+2:]
	}
	return s
}
