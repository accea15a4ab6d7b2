package kubeschema

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	jskind "github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// ErrUnknownKind is returned by Validate for an apiVersion and kind no loaded schema defines.
var ErrUnknownKind = errors.New("no schema loaded for this apiVersion and kind")

// maxFileSize caps a CRD file; the largest upstream CRDs are a few MB.
const maxFileSize = 32 << 20

// Validator checks objects against the schemas of the kinds it loaded: the builtin bundle (Builtin) and CRDs
// (Load, LoadDirs, AddCRDs). Validate is safe for concurrent use; each schema is compiled on its first use. AddCRDs
// must not run concurrently with Validate.
type Validator struct {
	schemas map[string]*entry // key: apiVersion + " " + kind
	sources []string          // module versions the builtin schemas came from
	added   int               // schemas added by CRDs, to tell a path without any
	// experimental are the builtin Gateway API experimental-channel schemas, shared, never changed;
	// experimentalSource is their module version.
	experimental       map[string]*entry
	experimentalSource string
}

type entry struct {
	source  string // file or module the schema came from, for error messages
	builtin bool   // from the embedded bundle: a CRD loaded later replaces it
	native  bool   // a built-in kind, decoded into Go structs: a null field is the same as an absent one
	doc     map[string]any
	raw     json.RawMessage // doc, still encoded (builtin schemas are decoded on first use)
	// skel is the CRD schema's defaults and list types (see skeleton); nil when it has none. rawSkel is the same,
	// still encoded.
	skel    map[string]any
	rawSkel json.RawMessage

	once       sync.Once
	fast       *fastNode                    // doc compiled for the fast validator; nil when it uses keywords the fast one does not know
	structural *structuralschema.Structural // skel compiled; nil when there is none
	err        error

	generalOnce sync.Once
	schema      *jsonschema.Schema // doc compiled by the general JSON Schema validator
	generalErr  error
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

// loadDir loads the CRDs of dir, which may also be a single file.
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
	return v.loadData(path, data, false)
}

// loadData loads the CRDs of one YAML or JSON stream read from path. builtin marks their schemas as replaceable
// by a CRD loaded later, as the bundle's are.
func (v *Validator) loadData(path string, data []byte, builtin bool) error {
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
		if err := v.add(path, &crd, builtin); err != nil {
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
			Served *bool  `json:"served"`
			Schema *struct {
				OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

func (v *Validator) add(source string, crd *customResourceDefinition, builtin bool) error {
	if crd.Spec.Group == "" || crd.Spec.Names.Kind == "" {
		return errors.New("spec.group and spec.names.kind are required")
	}
	for _, ver := range crd.Spec.Versions {
		// The API server refuses objects of a version it does not serve.
		if ver.Schema == nil || ver.Schema.OpenAPIV3Schema == nil || (ver.Served != nil && !*ver.Served) {
			continue
		}
		key := crd.Spec.Group + "/" + ver.Name + " " + crd.Spec.Names.Kind
		if prev, ok := v.schemas[key]; ok && !prev.builtin {
			return fmt.Errorf("%s is also defined in %s: keep one copy of each CRD", key, prev.source)
		}
		v.schemas[key] = &entry{source: source, builtin: builtin, doc: toJSONSchema(ver.Schema.OpenAPIV3Schema),
			skel: skeleton(ver.Schema.OpenAPIV3Schema)}
		if !builtin {
			v.added++
		}
	}
	return nil
}

// Kinds lists the loaded "apiVersion kind" pairs, sorted.
func (v *Validator) Kinds() []string {
	return slices.Sorted(maps.Keys(v.schemas))
}

// Has reports whether a schema for apiVersion and kind is loaded.
func (v *Validator) Has(apiVersion, kind string) bool {
	_, ok := v.schemas[apiVersion+" "+kind]
	return ok
}

// Validate checks obj, keyed by its apiVersion and kind, against its schema. A kind no loaded schema defines
// returns an error wrapping ErrUnknownKind; a schema violation returns *Error. obj is not modified.
func (v *Validator) Validate(obj map[string]any) error {
	return v.validate(obj, false)
}

// validate is Validate; general makes it use the general JSON Schema validator even where the fast one applies, so
// tests can compare the two.
func (v *Validator) validate(obj map[string]any, general bool) error {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	if apiVersion == "" || kind == "" {
		return errors.New("object has no apiVersion or kind")
	}
	e, ok := v.schemas[apiVersion+" "+kind]
	if !ok {
		return fmt.Errorf("%s %s: %w", apiVersion, kind, ErrUnknownKind)
	}
	fast, sch, err := e.compile(apiVersion, kind, general)
	if err != nil {
		return err
	}
	inst, err := instance(obj, e.native)
	if err != nil {
		return fmt.Errorf("%s %s: %w", apiVersion, kind, err)
	}
	// As the API server does: defaults first, then the schema and the list types.
	var fields []FieldError
	if e.structural != nil {
		inst = applyDefaults(inst, e.structural)
		fields = listErrors(inst, e.structural)
	}
	if fast != nil {
		var errs []fastErr
		if !fast.validate(inst, make([]string, 0, 16), &errs) {
			for _, fe := range errs {
				fields = append(fields, fieldError(inst, fe.path, fe.msg))
			}
		}
	} else if err := sch.Validate(inst); err != nil {
		var verr *jsonschema.ValidationError
		if !errors.As(err, &verr) {
			return fmt.Errorf("%s %s: %w", apiVersion, kind, err)
		}
		collect(verr, inst, &fields)
	}
	if len(fields) == 0 {
		return nil
	}
	return newError(apiVersion, kind, obj, fields)
}

func newError(apiVersion, kind string, obj map[string]any, fields []FieldError) *Error {
	out := &Error{APIVersion: apiVersion, Kind: kind, Fields: fields}
	if md, ok := obj["metadata"].(map[string]any); ok {
		out.Name, _ = md["name"].(string)
	}
	slices.SortStableFunc(out.Fields, func(a, b FieldError) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

// compile prepares the fast validator, and the general JSON Schema validator only for a schema the fast one does not
// take (or when general is set, for tests): compiling the general one costs milliseconds per kind.
func (e *entry) compile(apiVersion, kind string, general bool) (*fastNode, *jsonschema.Schema, error) {
	e.once.Do(func() {
		if e.doc == nil {
			if err := json.Unmarshal(e.raw, &e.doc); err != nil {
				e.err = fmt.Errorf("%s: schema of %s %s: %w", e.source, apiVersion, kind, err)
			}
			e.raw = nil
		}
		if e.skel == nil && e.rawSkel != nil {
			if err := json.Unmarshal(e.rawSkel, &e.skel); err != nil {
				e.err = fmt.Errorf("%s: defaults of %s %s: %w", e.source, apiVersion, kind, err)
			}
			e.rawSkel = nil
		}
		if e.err == nil && e.skel != nil {
			if e.structural, e.err = newStructural(e.skel); e.err != nil {
				e.err = fmt.Errorf("%s: defaults of %s %s: %w", e.source, apiVersion, kind, e.err)
			}
		}
		if e.err == nil {
			e.fast = buildFast(e.doc)
		}
	})
	if e.err != nil || (e.fast != nil && !general) {
		return e.fast, nil, e.err
	}
	e.generalOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		url := "https://schemas.marina.dev/kube/" + apiVersion + "/" + kind + ".json"
		err := c.AddResource(url, e.doc)
		if err == nil {
			e.schema, err = c.Compile(url)
		}
		if err != nil {
			e.generalErr = fmt.Errorf("%s: schema of %s %s: %w", e.source, apiVersion, kind, err)
		}
	})
	if e.generalErr != nil {
		return nil, nil, e.generalErr
	}
	if general {
		return nil, e.schema, nil
	}
	return e.fast, e.schema, nil
}

// FieldError is one schema violation of one field.
type FieldError struct {
	Path    string // JSON pointer, e.g. /spec/template/spec/containers/0/image; "" is the object itself
	Field   string // the same field as kubectl names it, e.g. spec.template.spec.containers[0].image
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
	b.WriteString(" does not match its schema:")
	for _, f := range e.Fields {
		p := f.Field
		if p == "" {
			p = "(object)"
		}
		fmt.Fprintf(&b, "\n  %s: %s", p, f.Message)
	}
	return b.String()
}

var printer = message.NewPrinter(language.English)

// collect flattens the leaves of a validation error tree; inner nodes only say "oneOf failed" and the like. A
// missing required field and an unknown field are reported at the field itself, one error each, as kubectl does.
func collect(e *jsonschema.ValidationError, inst any, out *[]FieldError) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, inst, out)
		}
		return
	}
	switch k := e.ErrorKind.(type) {
	case *jskind.Required:
		for _, name := range k.Missing {
			*out = append(*out, fieldError(inst, append(e.InstanceLocation[:len(e.InstanceLocation):len(e.InstanceLocation)], name),
				"required field is missing"))
		}
	case *jskind.AdditionalProperties:
		for _, name := range k.Properties {
			*out = append(*out, fieldError(inst, append(e.InstanceLocation[:len(e.InstanceLocation):len(e.InstanceLocation)], name),
				"unknown field"))
		}
	default:
		*out = append(*out, fieldError(inst, e.InstanceLocation, e.ErrorKind.LocalizedString(printer)))
	}
}

func fieldError(inst any, tokens []string, msg string) FieldError {
	return FieldError{Path: pointer(tokens), Field: fieldPath(inst, tokens), Message: msg}
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(t))
	}
	return b.String()
}

// fieldPath names a field the way kubectl does: spec.containers[0].image, metadata.labels[app.kubernetes.io/name].
// It walks inst to tell an array index from a map key that looks like a number.
func fieldPath(inst any, tokens []string) string {
	var b strings.Builder
	cur := inst
	for _, t := range tokens {
		switch c := cur.(type) {
		case []any:
			b.WriteString("[" + t + "]")
			if i, err := strconv.Atoi(t); err == nil && i >= 0 && i < len(c) {
				cur = c[i]
			} else {
				cur = nil
			}
			continue
		case map[string]any:
			cur = c[t]
		default:
			cur = nil
		}
		if t == "" || strings.ContainsAny(t, ".[]/ ") {
			b.WriteString("[" + t + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(t)
	}
	return b.String()
}
