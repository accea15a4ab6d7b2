package kubeschema

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// ErrUnknownKind is returned by Validate for an apiVersion and kind no loaded CRD defines.
var ErrUnknownKind = errors.New("no CustomResourceDefinition loaded for this apiVersion and kind")

// maxFileSize caps a CRD file; the largest upstream CRDs are a few MB.
const maxFileSize = 32 << 20

// Validator checks objects against the schemas of the CRDs it loaded. It is safe for concurrent use; each schema is
// compiled on its first use.
type Validator struct {
	schemas map[string]*entry // key: apiVersion + " " + kind
}

type entry struct {
	source string // file the CRD came from, for error messages
	doc    map[string]any
	once   sync.Once
	schema *jsonschema.Schema
	err    error
}

// Load reads every CustomResourceDefinition (apiextensions.k8s.io/v1) in the *.yaml, *.yml and *.json files under
// dir, recursively (skipping dot-directories), and returns a Validator for all their versions. Two CRDs defining the
// same group, version and kind are an error.
func Load(dir string) (*Validator, error) {
	return LoadDirs(dir)
}

// LoadDirs is Load over several directories, e.g. one per module in CacheDir.
func LoadDirs(dirs ...string) (*Validator, error) {
	v := &Validator{schemas: map[string]*entry{}}
	for _, dir := range dirs {
		if err := v.loadDir(dir); err != nil {
			return nil, fmt.Errorf("loading CRDs from %s: %w", dir, err)
		}
	}
	if len(v.schemas) == 0 {
		return nil, fmt.Errorf("loading CRDs from %s: no CustomResourceDefinition found", strings.Join(dirs, ", "))
	}
	return v, nil
}

func (v *Validator) loadDir(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		return v.loadFile(path)
	})
}

func (v *Validator) loadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", path, i+1, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var crd customResourceDefinition
		if err := yaml.Unmarshal(doc, &crd); err != nil {
			return fmt.Errorf("%s: document %d: %w", path, i+1, err)
		}
		if crd.APIVersion != "apiextensions.k8s.io/v1" || crd.Kind != "CustomResourceDefinition" {
			continue
		}
		if err := v.add(path, &crd); err != nil {
			return fmt.Errorf("%s: CustomResourceDefinition %s: %w", path, crd.Metadata.Name, err)
		}
	}
}

// customResourceDefinition is the part of apiextensions.k8s.io/v1 CustomResourceDefinition this package reads.
type customResourceDefinition struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Schema *struct {
				OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

func (v *Validator) add(source string, crd *customResourceDefinition) error {
	if crd.Spec.Group == "" || crd.Spec.Names.Kind == "" {
		return errors.New("spec.group and spec.names.kind are required")
	}
	for _, ver := range crd.Spec.Versions {
		if ver.Schema == nil || ver.Schema.OpenAPIV3Schema == nil {
			continue
		}
		key := crd.Spec.Group + "/" + ver.Name + " " + crd.Spec.Names.Kind
		if prev, ok := v.schemas[key]; ok {
			return fmt.Errorf("%s is also defined in %s: keep one copy of each CRD", key, prev.source)
		}
		v.schemas[key] = &entry{source: source, doc: toJSONSchema(ver.Schema.OpenAPIV3Schema)}
	}
	return nil
}

// Kinds lists the loaded "apiVersion kind" pairs, sorted.
func (v *Validator) Kinds() []string {
	keys := make([]string, 0, len(v.schemas))
	for k := range v.schemas {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Has reports whether a CRD for apiVersion and kind is loaded.
func (v *Validator) Has(apiVersion, kind string) bool {
	_, ok := v.schemas[apiVersion+" "+kind]
	return ok
}

// Validate checks obj, keyed by its apiVersion and kind, against its CRD's schema. A kind no loaded CRD defines
// returns an error wrapping ErrUnknownKind; a schema violation returns *Error.
func (v *Validator) Validate(obj map[string]any) error {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	if apiVersion == "" || kind == "" {
		return errors.New("object has no apiVersion or kind")
	}
	e, ok := v.schemas[apiVersion+" "+kind]
	if !ok {
		return fmt.Errorf("%s %s: %w", apiVersion, kind, ErrUnknownKind)
	}
	sch, err := e.compile(apiVersion, kind)
	if err != nil {
		return err
	}
	// A JSON round trip turns typed Go values ([]string, map[string]string, int) into the generic JSON values the
	// validator walks.
	raw, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("%s %s: %w", apiVersion, kind, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s %s: %w", apiVersion, kind, err)
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("%s %s: %w", apiVersion, kind, err)
	}
	out := &Error{APIVersion: apiVersion, Kind: kind}
	if md, ok := obj["metadata"].(map[string]any); ok {
		out.Name, _ = md["name"].(string)
	}
	collect(verr, &out.Fields)
	sort.SliceStable(out.Fields, func(i, j int) bool { return out.Fields[i].Path < out.Fields[j].Path })
	return out
}

func (e *entry) compile(apiVersion, kind string) (*jsonschema.Schema, error) {
	e.once.Do(func() {
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		url := "https://schemas.marina.dev/crd/" + apiVersion + "/" + kind + ".json"
		if err := c.AddResource(url, e.doc); err != nil {
			e.err = err
		} else {
			e.schema, e.err = c.Compile(url)
		}
		if e.err != nil {
			e.err = fmt.Errorf("%s: schema of %s %s: %w", e.source, apiVersion, kind, e.err)
		}
		e.doc = nil
	})
	return e.schema, e.err
}

// FieldError is one schema violation at a JSON pointer into the object.
type FieldError struct {
	Path    string // JSON pointer, e.g. /spec/source/repoURL; "" is the object itself
	Message string
}

// Error lists every schema violation of one object.
type Error struct {
	APIVersion, Kind, Name string
	Fields                 []FieldError
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.APIVersion, e.Kind)
	if e.Name != "" {
		fmt.Fprintf(&b, " %q", e.Name)
	}
	b.WriteString(" does not match its CRD schema:")
	for _, f := range e.Fields {
		p := f.Path
		if p == "" {
			p = "/"
		}
		fmt.Fprintf(&b, "\n  %s: %s", p, f.Message)
	}
	return b.String()
}

var printer = message.NewPrinter(language.English)

// collect flattens the leaves of a validation error tree; inner nodes only say "oneOf failed" and the like.
func collect(e *jsonschema.ValidationError, out *[]FieldError) {
	if len(e.Causes) == 0 {
		*out = append(*out, FieldError{Path: pointer(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(printer)})
		return
	}
	for _, c := range e.Causes {
		collect(c, out)
	}
}

func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}
