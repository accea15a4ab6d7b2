package kubeschema

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// fastNode is a compiled schema of the keyword subset the converter emits (structural CRD schemas and the built-in
// OpenAPI: types, properties, additionalProperties, required, items, enum, bounds, pattern, junctors and $defs
// references). It validates an order of magnitude faster than the general JSON Schema validator and allocates only
// for errors; a schema that uses any other keyword is validated by the general one.
type fastNode struct {
	types      uint8 // bit set of jsonTypes; 0 accepts every type
	props      map[string]*fastNode
	additional *fastNode // nil: any additional property; noAdditional: none
	noAdd      bool
	required   []string
	items      *fastNode
	enum       []any
	pattern    *regexp.Regexp
	minLen     int
	maxLen     int
	minItems   int
	maxItems   int
	minProps   int
	maxProps   int
	unique     bool
	min, max   *float64
	exclMin    bool
	exclMax    bool
	multipleOf float64
	allOf      []*fastNode
	anyOf      []*fastNode
	oneOf      []*fastNode
	not        *fastNode
	ref        *fastNode
}

const (
	tNull uint8 = 1 << iota
	tBoolean
	tObject
	tArray
	tNumber
	tInteger
	tString
)

var typeNames = []string{"null", "boolean", "object", "array", "number", "integer", "string"}

// fastKeywords are the keywords buildFast understands; any other makes it give up.
var fastKeywords = map[string]bool{
	"$schema": true, "$defs": true, "$ref": true, "type": true, "properties": true, "additionalProperties": true,
	"required": true, "items": true, "enum": true, "pattern": true, "minLength": true, "maxLength": true,
	"minItems": true, "maxItems": true, "minProperties": true, "maxProperties": true, "uniqueItems": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "multipleOf": true,
	"allOf": true, "anyOf": true, "oneOf": true, "not": true,
}

type fastBuilder struct {
	defs  map[string]any
	built map[string]*fastNode
}

// buildFast compiles doc, a schema the general compiler accepted, or returns nil when it uses a keyword or reference
// buildFast does not handle.
func buildFast(doc map[string]any) *fastNode {
	defs, _ := doc["$defs"].(map[string]any)
	b := &fastBuilder{defs: defs, built: map[string]*fastNode{}}
	n, ok := b.node(doc)
	if !ok {
		return nil
	}
	return n
}

func (b *fastBuilder) node(s map[string]any) (*fastNode, bool) {
	n := &fastNode{minLen: -1, maxLen: -1, minItems: -1, maxItems: -1, minProps: -1, maxProps: -1}
	for k, v := range s {
		if !fastKeywords[k] {
			return nil, false
		}
		ok := true
		switch k {
		case "$ref":
			ref, _ := v.(string)
			name, found := strings.CutPrefix(ref, defsPrefix)
			if !found {
				return nil, false
			}
			if n.ref = b.built[name]; n.ref == nil {
				def, isMap := b.defs[name].(map[string]any)
				if !isMap {
					return nil, false
				}
				// Register before building so recursive definitions (JSONSchemaProps) terminate.
				n.ref = &fastNode{}
				b.built[name] = n.ref
				built, ok := b.node(def)
				if !ok {
					return nil, false
				}
				*n.ref = *built
			}
		case "type":
			switch t := v.(type) {
			case string:
				n.types, ok = addType(n.types, t)
			case []any:
				for _, e := range t {
					s, _ := e.(string)
					if n.types, ok = addType(n.types, s); !ok {
						break
					}
				}
			default:
				ok = false
			}
		case "properties":
			m, _ := v.(map[string]any)
			n.props = make(map[string]*fastNode, len(m))
			for name, sub := range m {
				sm, isMap := sub.(map[string]any)
				if !isMap {
					return nil, false
				}
				if n.props[name], ok = b.node(sm); !ok {
					return nil, false
				}
			}
		case "additionalProperties":
			switch a := v.(type) {
			case bool:
				n.noAdd = !a
			case map[string]any:
				n.additional, ok = b.node(a)
			default:
				ok = false
			}
		case "items", "not":
			m, isMap := v.(map[string]any)
			if !isMap {
				return nil, false
			}
			sub, subOK := b.node(m)
			ok = subOK
			if k == "items" {
				n.items = sub
			} else {
				n.not = sub
			}
		case "allOf", "anyOf", "oneOf":
			list, _ := v.([]any)
			nodes := make([]*fastNode, 0, len(list))
			for _, e := range list {
				m, isMap := e.(map[string]any)
				if !isMap {
					return nil, false
				}
				sub, subOK := b.node(m)
				if !subOK {
					return nil, false
				}
				nodes = append(nodes, sub)
			}
			switch k {
			case "allOf":
				n.allOf = nodes
			case "anyOf":
				n.anyOf = nodes
			default:
				n.oneOf = nodes
			}
		case "required":
			list, _ := v.([]any)
			for _, e := range list {
				s, isStr := e.(string)
				if !isStr {
					return nil, false
				}
				n.required = append(n.required, s)
			}
		case "enum":
			n.enum, ok = v.([]any)
		case "pattern":
			p, _ := v.(string)
			re, err := regexp.Compile(p)
			if err != nil {
				return nil, false
			}
			n.pattern = re
		case "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties":
			f, isNum := number(v)
			if !isNum || f < 0 || f != math.Trunc(f) {
				return nil, false
			}
			switch k {
			case "minLength":
				n.minLen = int(f)
			case "maxLength":
				n.maxLen = int(f)
			case "minItems":
				n.minItems = int(f)
			case "maxItems":
				n.maxItems = int(f)
			case "minProperties":
				n.minProps = int(f)
			default:
				n.maxProps = int(f)
			}
		case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
			f, isNum := number(v)
			if !isNum {
				return nil, false
			}
			if strings.Contains(strings.ToLower(k), "min") {
				n.min, n.exclMin = &f, k == "exclusiveMinimum"
			} else {
				n.max, n.exclMax = &f, k == "exclusiveMaximum"
			}
		case "multipleOf":
			n.multipleOf, ok = number(v)
		case "uniqueItems":
			n.unique, ok = v.(bool)
		}
		if !ok {
			return nil, false
		}
	}
	if (s["minimum"] != nil && s["exclusiveMinimum"] != nil) || (s["maximum"] != nil && s["exclusiveMaximum"] != nil) {
		return nil, false
	}
	return n, true
}

func addType(set uint8, t string) (uint8, bool) {
	for i, name := range typeNames {
		if name == t {
			return set | 1<<i, true
		}
	}
	return set, false
}

// number reads a JSON number of any Go representation.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// typeOf returns the type bit of v; a number with no fraction is also an integer.
func typeOf(v any) uint8 {
	switch v.(type) {
	case nil:
		return tNull
	case bool:
		return tBoolean
	case string:
		return tString
	case map[string]any:
		return tObject
	case []any:
		return tArray
	case int, int64, int32:
		return tNumber | tInteger
	}
	if f, ok := number(v); ok && !math.IsInf(f, 0) && !math.IsNaN(f) {
		if f == math.Trunc(f) {
			return tNumber | tInteger
		}
		return tNumber
	}
	return 0
}

// fastErr is one violation; path is a copy, taken only when an error is recorded.
type fastErr struct {
	path []string
	msg  string
}

// validate checks v at path, appending violations to errs (nil errs: only report validity, for junctor branches).
func (n *fastNode) validate(v any, path []string, errs *[]fastErr) bool {
	ok := true
	if n.ref != nil && !n.ref.validate(v, path, errs) {
		if errs == nil {
			return false
		}
		ok = false
	}
	fail := func(msg string) bool {
		if errs != nil {
			*errs = append(*errs, fastErr{path: append([]string(nil), path...), msg: msg})
		}
		return false
	}
	t := typeOf(v)
	if n.types != 0 && n.types&t == 0 {
		var want []string
		for i, name := range typeNames {
			if n.types&(1<<i) != 0 {
				want = append(want, name)
			}
		}
		got := "number"
		for i, name := range typeNames {
			if t == 1<<i {
				got = name
			}
		}
		return fail(fmt.Sprintf("got %s, want %s", got, strings.Join(want, " or ")))
	}
	if n.enum != nil && !inEnum(v, n.enum) {
		ok = fail(fmt.Sprintf("value must be one of %s", displayList(n.enum)))
	}
	switch x := v.(type) {
	case map[string]any:
		for _, r := range n.required {
			if _, present := x[r]; !present {
				ok = fail("required field is missing")
				if errs != nil {
					(*errs)[len(*errs)-1].path = append((*errs)[len(*errs)-1].path, r)
				}
			}
		}
		if n.minProps >= 0 && len(x) < n.minProps {
			ok = fail(fmt.Sprintf("minProperties: got %d, want %d", len(x), n.minProps))
		}
		if n.maxProps >= 0 && len(x) > n.maxProps {
			ok = fail(fmt.Sprintf("maxProperties: got %d, want %d", len(x), n.maxProps))
		}
		for k, sub := range x {
			p, declared := n.props[k]
			switch {
			case declared:
			case n.additional != nil:
				p = n.additional
			case n.noAdd:
				ok = fail("unknown field")
				if errs != nil {
					(*errs)[len(*errs)-1].path = append((*errs)[len(*errs)-1].path, k)
				} else {
					return false
				}
				continue
			default:
				continue
			}
			if !p.validate(sub, append(path, k), errs) {
				if ok = false; errs == nil {
					return false
				}
			}
		}
	case []any:
		if n.minItems >= 0 && len(x) < n.minItems {
			ok = fail(fmt.Sprintf("minItems: got %d, want %d", len(x), n.minItems))
		}
		if n.maxItems >= 0 && len(x) > n.maxItems {
			ok = fail(fmt.Sprintf("maxItems: got %d, want %d", len(x), n.maxItems))
		}
		if n.unique {
			for i := range x {
				for j := i + 1; j < len(x); j++ {
					if jsonEqual(x[i], x[j]) {
						ok = fail(fmt.Sprintf("items at %d and %d are equal", i, j))
					}
				}
			}
		}
		if n.items != nil {
			for i, sub := range x {
				if !n.items.validate(sub, append(path, strconv.Itoa(i)), errs) {
					if ok = false; errs == nil {
						return false
					}
				}
			}
		}
	case string:
		if n.minLen >= 0 || n.maxLen >= 0 {
			l := len([]rune(x))
			if n.minLen >= 0 && l < n.minLen {
				ok = fail(fmt.Sprintf("minLength: got %d, want %d", l, n.minLen))
			}
			if n.maxLen >= 0 && l > n.maxLen {
				ok = fail(fmt.Sprintf("maxLength: got %d, want %d", l, n.maxLen))
			}
		}
		if n.pattern != nil && !n.pattern.MatchString(x) {
			ok = fail(fmt.Sprintf("%q does not match pattern %q", x, n.pattern.String()))
		}
	default:
		if f, isNum := number(v); isNum {
			if n.min != nil && (f < *n.min || (n.exclMin && f == *n.min)) {
				ok = fail(fmt.Sprintf("%s: got %s, want %s", bound("minimum", n.exclMin), num(f), num(*n.min)))
			}
			if n.max != nil && (f > *n.max || (n.exclMax && f == *n.max)) {
				ok = fail(fmt.Sprintf("%s: got %s, want %s", bound("maximum", n.exclMax), num(f), num(*n.max)))
			}
			if n.multipleOf > 0 {
				if q := f / n.multipleOf; q != math.Trunc(q) {
					ok = fail(fmt.Sprintf("multipleOf: got %s, want %s", num(f), num(n.multipleOf)))
				}
			}
		}
	}
	for _, s := range n.allOf {
		if !s.validate(v, path, errs) {
			ok = false
		}
	}
	if len(n.anyOf) > 0 {
		matched := false
		for _, s := range n.anyOf {
			if s.validate(v, path, nil) {
				matched = true
				break
			}
		}
		if !matched {
			ok = fail("does not match any of the allowed schemas (anyOf)")
		}
	}
	if len(n.oneOf) > 0 {
		matched := 0
		for _, s := range n.oneOf {
			if s.validate(v, path, nil) {
				matched++
			}
		}
		switch {
		case matched == 0:
			ok = fail("does not match any of the allowed schemas (oneOf)")
		case matched > 1:
			ok = fail("matches more than one of the allowed schemas (oneOf)")
		}
	}
	if n.not != nil && n.not.validate(v, path, nil) {
		ok = fail("matches a schema it must not match (not)")
	}
	return ok
}

// num prints a number as written in YAML: 123456789, not 1.23456789e+08.
func num(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func bound(name string, exclusive bool) string {
	if exclusive {
		return "exclusive" + strings.ToUpper(name[:1]) + name[1:]
	}
	return name
}

func inEnum(v any, enum []any) bool {
	for _, e := range enum {
		if jsonEqual(v, e) {
			return true
		}
	}
	return false
}

// jsonEqual compares JSON values, numbers by value whatever their Go type.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, present := y[k]
			if !present || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	fa, ok1 := number(a)
	fb, ok2 := number(b)
	return ok1 && ok2 && fa == fb
}

func displayList(values []any) string {
	parts := make([]string, len(values))
	for i, v := range values {
		if s, ok := v.(string); ok {
			parts[i] = strconv.Quote(s)
		} else {
			raw, _ := json.Marshal(v)
			parts[i] = string(raw)
		}
	}
	return strings.Join(parts, ", ")
}
