package kubeschema

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Bundle collects the schemas that Builtin embeds. hack/kubeschemas builds one from the Kubernetes OpenAPI spec and
// third-party CRDs and writes Encode's bytes to internal/kubeschema/builtin/bundle.json.gz.
type Bundle struct {
	sources []string
	kinds   map[string]bundleEntry
	// experimental are the kinds of Gateway API's experimental channel, which replace the standard ones for a
	// project that chooses it; experimentalSource is their module version.
	experimental       map[string]bundleEntry
	experimentalSource string
}

type bundleEntry struct {
	source string
	native bool
	schema map[string]any
	skel   map[string]any // defaults and list types of a CRD (see skeleton)
}

// NewBundle returns an empty Bundle.
func NewBundle() *Bundle {
	return &Bundle{kinds: map[string]bundleEntry{}, experimental: map[string]bundleEntry{}}
}

// AddOpenAPI adds the top-level kinds of one Kubernetes OpenAPI v3 document (see KindsFromOpenAPI) whose apiVersion
// keep accepts, recording source (module@version) once. It returns the number of kinds added.
func (b *Bundle) AddOpenAPI(source string, spec []byte, keep func(apiVersion string) bool) (int, error) {
	kinds, err := KindsFromOpenAPI(spec)
	if err != nil {
		return 0, err
	}
	n := 0
	for key, schema := range kinds {
		apiVersion, _, _ := strings.Cut(key, " ")
		if keep != nil && !keep(apiVersion) {
			continue
		}
		if err := b.put(key, bundleEntry{source: source, native: true, schema: schema}); err != nil {
			return n, err
		}
		n++
	}
	b.addSource(source)
	return n, nil
}

// AddCRDs adds every served version of the CustomResourceDefinitions under dir, recording source (module@version).
// It returns the number of kinds (apiVersion + kind) added.
func (b *Bundle) AddCRDs(source, dir string) (int, error) {
	v, err := LoadDirs(dir)
	if err != nil {
		return 0, err
	}
	for key, e := range v.schemas {
		if err := b.put(key, bundleEntry{source: source, schema: e.doc, skel: e.skel}); err != nil {
			return 0, err
		}
	}
	b.addSource(source)
	return len(v.schemas), nil
}

// AddExperimentalCRDs adds the CRDs of Gateway API's experimental channel under dir (config/crd/experimental of
// the module), which Validator.UseGatewayAPIChannel puts in place of the standard channel's. It returns the number of
// kinds added.
func (b *Bundle) AddExperimentalCRDs(source, dir string) (int, error) {
	if b.experimentalSource != "" {
		return 0, fmt.Errorf("the experimental channel is already taken from %s", b.experimentalSource)
	}
	v, err := LoadDirs(dir)
	if err != nil {
		return 0, err
	}
	for key, e := range v.schemas {
		b.experimental[key] = bundleEntry{source: source, schema: e.doc, skel: e.skel}
	}
	b.experimentalSource = source
	return len(v.schemas), nil
}

func (b *Bundle) put(key string, e bundleEntry) error {
	if prev, ok := b.kinds[key]; ok {
		return fmt.Errorf("%s is defined by both %s and %s", key, prev.source, e.source)
	}
	b.kinds[key] = e
	return nil
}

func (b *Bundle) addSource(s string) {
	for _, have := range b.sources {
		if have == s {
			return
		}
	}
	b.sources = append(b.sources, s)
}

// Kinds lists the bundle's "apiVersion kind" keys, sorted.
func (b *Bundle) Kinds() []string {
	return slices.Sorted(maps.Keys(b.kinds))
}

// Encode returns the gzipped JSON of the bundle. The bytes depend only on the contents (sorted keys, no gzip name or
// modification time), so a regenerated bundle is byte-identical to the committed one.
func (b *Bundle) Encode() ([]byte, error) {
	f := bundleFile{Format: bundleFormat, Sources: append([]string(nil), b.sources...), Kinds: map[string]bundleKind{},
		ExperimentalSource: b.experimentalSource}
	slices.Sort(f.Sources)
	for key, e := range b.kinds {
		k, err := e.encode()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		f.Kinds[key] = k
	}
	if len(b.experimental) > 0 {
		f.Experimental = map[string]bundleKind{}
	}
	for key, e := range b.experimental {
		k, err := e.encode()
		if err != nil {
			return nil, fmt.Errorf("%s (experimental): %w", key, err)
		}
		f.Experimental[key] = k
	}
	raw, err := marshal(f)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	// The zero Header: no name, no comment, mtime 0, OS "unknown".
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func (e bundleEntry) encode() (bundleKind, error) {
	raw, err := marshal(e.schema)
	if err != nil {
		return bundleKind{}, err
	}
	k := bundleKind{Source: e.source, Native: e.native, Schema: raw}
	if e.skel != nil {
		if k.Structural, err = marshal(e.skel); err != nil {
			return bundleKind{}, err
		}
	}
	return k, nil
}

// marshal is json.Marshal (sorted map keys) without HTML escaping, which would only bloat regex patterns.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
