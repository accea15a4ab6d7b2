package render

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// tricky strings that a careless emitter writes plain and a YAML reader then reads
// as something else.
var tricky = []string{
	"", " ", "a b", " lead", "trail ", "yes", "No", "ON", "off", "y", "n", "null", "Null", "~", "true", "False",
	"1", "-1", "+1", "0x1f", "0o17", "1e3", "1.5", ".5", ".inf", "-.inf", ".nan", "1_000", "12:30", "1:20:30",
	"2026-11-25", "2026-11-25T10:00:00Z", "1.0.0", "1.0", "1.0.0-rc.1", "1..2", "1.2.", "500m", "2Gi", "0.5Gi",
	"a: b", "a:b", "a:", "a #b", "a#b", "#x", "-x", "- x", "?x", ":x", "&x", "*x", "!x", "|x", ">x", "%x", "@x",
	"`x", "'x", "\"x", "[x]", "{x}", "x,y", "<<", "=", "a\nb", "tab\there", "ünïcode", "emoji 🙂", "\x00", "\u2028",
	"sha256:abc", "registry.example.com/serve@sha256:0123", "nvidia.com/gpu", "/v2/models/m", "$(VAR)", "--model=x",
}

func TestEmitYAMLReadsBackTheSameTreeInYAML11And12(t *testing.T) {
	t.Parallel()
	trees := []map[string]any{
		{"empty map": map[string]any{}, "empty list": []any{}, "nil": nil, "t": true, "f": false, "i": int64(-42), "big": int64(1 << 40), "fl": 0.25},
		{"list of maps": []any{map[string]any{"a": "1", "b": []any{"x", map[string]any{}}}, map[string]any{}, []any{}, []any{"nested", []any{"deeper"}}}},
	}
	for _, s := range tricky {
		trees = append(trees, map[string]any{"value": s, s: "key", "list": []any{s, map[string]any{s: s}}})
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 300 {
		trees = append(trees, map[string]any{"root": randomTree(rng, 0)})
	}
	for i, tree := range trees {
		out := emitYAML(tree)
		var v3 map[string]any
		if err := yaml.Unmarshal(out, &v3); err != nil {
			t.Fatalf("tree %d: yaml.v3 cannot read\n%s\n%v", i, out, err)
		}
		if !reflect.DeepEqual(normalize(v3), normalize(tree)) {
			t.Fatalf("tree %d: yaml.v3 reads back\n%#v\nwant\n%#v\nfrom\n%s", i, v3, tree, out)
		}
		// sigs.k8s.io/yaml is YAML 1.1 (yaml.v2), as in kubectl and many controllers.
		js, err := sigsyaml.YAMLToJSON(out)
		if err != nil {
			t.Fatalf("tree %d: sigs.k8s.io/yaml cannot read\n%s\n%v", i, out, err)
		}
		var v2 map[string]any
		if err := json.Unmarshal(js, &v2); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(v2), normalize(tree)) {
			t.Fatalf("tree %d: YAML 1.1 reads back\n%#v\nwant\n%#v\nfrom\n%s", i, v2, tree, out)
		}
	}
}

func TestEmitYAMLMatchesYAMLv3Style(t *testing.T) {
	t.Parallel()
	tree := map[string]any{"b": []any{map[string]any{"y": "1", "x": int64(2)}, "s"}, "a": map[string]any{"c": []any{}, "d": "registry.example.com/x@sha256:00"}}
	want := "a:\n  c: []\n  d: registry.example.com/x@sha256:00\nb:\n  - x: 2\n    \"y\": \"1\"\n  - s\n"
	if got := string(emitYAML(tree)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// normalize makes numbers comparable across decoders (int, int64, float64).
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	}
	return v
}

func randomTree(rng *rand.Rand, depth int) any {
	if depth > 3 {
		return randomScalar(rng)
	}
	switch rng.IntN(4) {
	case 0:
		m := map[string]any{}
		for range rng.IntN(4) {
			m[randomString(rng)] = randomTree(rng, depth+1)
		}
		return m
	case 1:
		var s []any
		for range rng.IntN(4) {
			s = append(s, randomTree(rng, depth+1))
		}
		if s == nil {
			s = []any{}
		}
		return s
	}
	return randomScalar(rng)
}

func randomScalar(rng *rand.Rand) any {
	switch rng.IntN(5) {
	case 0:
		return int64(rng.IntN(100000)) - 50000
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return nil
	}
	return randomString(rng)
}

func randomString(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		return tricky[rng.IntN(len(tricky))]
	}
	const alphabet = "ab1.:- #/@\"'\\\n{}[],&*!|>%`~=0xeE"
	var b strings.Builder
	for range rng.IntN(8) {
		b.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

func FuzzEmitYAMLString(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // render's strings come from a JSON round trip, which makes them valid UTF-8
		}
		for _, tree := range []map[string]any{{"k": s}, {s: "v"}} {
			out := emitYAML(tree)
			var back map[string]any
			if err := yaml.Unmarshal(out, &back); err != nil {
				t.Fatalf("cannot read back %q:\n%s\n%v", s, out, err)
			}
			if !reflect.DeepEqual(back, tree) {
				t.Fatalf("%q read back as %#v from\n%s", s, back, out)
			}
		}
	})
}
