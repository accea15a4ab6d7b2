package kubeschema

import (
	"bytes"
	"compress/gzip"
	_ "embed" // the builtin bundle
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// bundleGz is written by hack/kubeschemas.sh: the schemas of the built-in Kubernetes kinds and of the CRDs marina
// emits, so validation needs no network and no cluster.
//
//go:embed builtin/bundle.json.gz
var bundleGz []byte

// maxBundleSize caps the decompressed bundle; it is a few MB.
const maxBundleSize = 256 << 20

var (
	builtinOnce sync.Once
	builtinBase *Validator
	builtinErr  error
)

// Builtin returns a Validator for the schemas built into marina: the built-in Kubernetes kinds of the stable API
// groups, the CRD kinds marina emits or scaffolds (Gateway API, KEDA, External Secrets, Sealed Secrets, Argo CD,
// Flux, Prometheus Operator) and marina's own (ModelDeployment, from config/crd), every served version of each. The bundle is decoded once per process; a kind's schema
// is compiled on its first use and the compiled schema is shared by every Validator Builtin returns. Each call
// returns a new Validator, so AddCRDs on one does not change the others.
func Builtin() (*Validator, error) {
	builtinOnce.Do(func() {
		builtinBase, builtinErr = decodeBundle(bundleGz)
		if builtinErr == nil {
			builtinErr = builtinBase.addOwnCRDs()
		}
		if builtinErr != nil {
			builtinErr = fmt.Errorf("builtin Kubernetes schemas: %w", builtinErr)
		}
	})
	if builtinErr != nil {
		return nil, builtinErr
	}
	v := &Validator{schemas: make(map[string]*entry, len(builtinBase.schemas)), sources: builtinBase.sources,
		experimental: builtinBase.experimental, experimentalSource: builtinBase.experimentalSource}
	for k, e := range builtinBase.schemas {
		v.schemas[k] = e
	}
	return v, nil
}

// AddCRDs loads the CustomResourceDefinitions of each path (a file, or a directory read recursively as Load does)
// on top of the schemas v has, e.g. the KServe CRDs a team installed. A CRD replaces the builtin schema of the same
// apiVersion and kind (the cluster's version wins); two CRDs loaded by the caller for one kind are an error, and so
// is a path without any CRD. It must not run concurrently with Validate.
func (v *Validator) AddCRDs(paths ...string) error {
	for _, p := range paths {
		before := v.added
		if err := v.loadDir(p); err != nil {
			return fmt.Errorf("loading CRDs from %s: %w", p, err)
		}
		if v.added == before {
			return fmt.Errorf("loading CRDs from %s: no CustomResourceDefinition found", p)
		}
	}
	return nil
}

// Sources lists the module versions the builtin schemas came from (e.g. "k8s.io/kubernetes@v1.37.2"); it is empty
// for a Validator made by Load.
func (v *Validator) Sources() []string {
	return append([]string(nil), v.sources...)
}

// Gateway API release channels: the standard channel's CRDs are the default; a cluster that installed the
// experimental channel's serves more kinds (the gateway.networking.x-k8s.io group) and more fields.
const (
	GatewayAPIStandard     = "standard"
	GatewayAPIExperimental = "experimental"
)

// ExperimentalSource is the module version of the builtin Gateway API experimental-channel schemas, or "".
func (v *Validator) ExperimentalSource() string { return v.experimentalSource }

// UseGatewayAPIChannel makes v judge Gateway API objects with the CRDs of channel (GatewayAPIStandard, the default,
// or GatewayAPIExperimental). A CRD loaded with AddCRDs still wins. It must not run concurrently with Validate.
func (v *Validator) UseGatewayAPIChannel(channel string) error {
	switch channel {
	case "", GatewayAPIStandard:
		return nil
	case GatewayAPIExperimental:
	default:
		return fmt.Errorf("unknown Gateway API channel %q: want %s or %s", channel, GatewayAPIStandard, GatewayAPIExperimental)
	}
	if len(v.experimental) == 0 {
		return errors.New("no Gateway API experimental-channel schemas are built in: run hack/kubeschemas.sh")
	}
	for key, e := range v.experimental {
		if prev, ok := v.schemas[key]; ok && !prev.builtin {
			continue
		}
		v.schemas[key] = e
	}
	return nil
}

// bundleFile is the JSON inside builtin/bundle.json.gz.
type bundleFile struct {
	Format  int                   `json:"format"`
	Sources []string              `json:"sources"`
	Kinds   map[string]bundleKind `json:"kinds"` // key: apiVersion + " " + kind
	// Experimental holds the kinds of Gateway API's experimental channel (see Validator.UseGatewayAPIChannel).
	Experimental       map[string]bundleKind `json:"experimental,omitempty"`
	ExperimentalSource string                `json:"experimentalSource,omitempty"`
}

type bundleKind struct {
	Source string          `json:"source"`
	Native bool            `json:"native,omitempty"`
	Schema json.RawMessage `json:"schema"`
	// Structural holds a CRD's defaults and list types (see skeleton), which the API server applies beside the
	// schema; absent when it has none.
	Structural json.RawMessage `json:"structural,omitempty"`
}

// bundleFormat 2 added Structural.
const bundleFormat = 2

func decodeBundle(gz []byte) (*Validator, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxBundleSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxBundleSize {
		return nil, fmt.Errorf("larger than %d bytes", maxBundleSize)
	}
	var b bundleFile
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, err
	}
	if b.Format != bundleFormat {
		return nil, fmt.Errorf("bundle format %d, want %d: run hack/kubeschemas.sh", b.Format, bundleFormat)
	}
	v := &Validator{schemas: make(map[string]*entry, len(b.Kinds)), sources: b.Sources,
		experimental: make(map[string]*entry, len(b.Experimental)), experimentalSource: b.ExperimentalSource}
	for key, k := range b.Kinds {
		v.schemas[key] = &entry{source: k.Source, builtin: true, native: k.Native, raw: k.Schema, rawSkel: k.Structural}
	}
	for key, k := range b.Experimental {
		v.experimental[key] = &entry{source: k.Source, builtin: true, raw: k.Schema, rawSkel: k.Structural}
	}
	return v, nil
}

// instance returns obj as the plain JSON values the schema validator walks (map[string]any, []any, string, numbers,
// bool, nil), without copying what already is. Typed Go values ([]string, map[string]string, structs) take a JSON
// round trip. With dropNulls, null map values are left out: a built-in kind decodes into Go structs, where null
// means unset (kubectl's own output carries creationTimestamp: null).
func instance(obj map[string]any, dropNulls bool) (any, error) {
	v, _, err := plain(obj, dropNulls)
	return v, err
}

func plain(v any, dropNulls bool) (any, bool, error) {
	switch t := v.(type) {
	case nil, bool, string, float64, float32, int, int64, int32, json.Number:
		return v, false, nil
	case map[string]any:
		var cp map[string]any
		for k, sub := range t {
			if sub == nil && dropNulls {
				if cp == nil {
					cp = copyMap(t)
				}
				delete(cp, k)
				continue
			}
			p, changed, err := plain(sub, dropNulls)
			if err != nil {
				return nil, false, err
			}
			if changed {
				if cp == nil {
					cp = copyMap(t)
				}
				cp[k] = p
			}
		}
		if cp != nil {
			return cp, true, nil
		}
		return t, false, nil
	case []any:
		var cp []any
		for i, sub := range t {
			p, changed, err := plain(sub, dropNulls)
			if err != nil {
				return nil, false, err
			}
			if changed {
				if cp == nil {
					cp = append([]any(nil), t...)
				}
				cp[i] = p
			}
		}
		if cp != nil {
			return cp, true, nil
		}
		return t, false, nil
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, false, err
		}
		g, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, false, err
		}
		g, _, err = plain(g, dropNulls)
		return g, true, err
	}
}

func copyMap(m map[string]any) map[string]any {
	cp := make(map[string]any, len(m))
	for k, v := range m {
		cp[k] = v
	}
	return cp
}
