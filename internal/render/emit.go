package render

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// emitYAML writes a JSON-like tree (maps with string keys, slices, strings, int64,
// float64, bool, nil) as block YAML with sorted keys. It is what yaml.v3's encoder
// would produce for the same tree, at a fraction of the cost: rendering a thousand
// models writes tens of thousands of objects, and the generic encoder dominated the
// profile. Strings are written plain only when every YAML 1.1 and 1.2 reader (kubectl,
// Argo CD, Flux) reads them back as the same string; otherwise they are double-quoted.
func emitYAML(m map[string]any) []byte {
	var b bytes.Buffer
	emitMapping(&b, m, 0, false)
	return b.Bytes()
}

// maxImplicitKey is below YAML's 1024-character limit on implicit keys.
const maxImplicitKey = 1000

// emitMapping writes m's keys at indent; with firstInline the first key follows a "- ".
func emitMapping(b *bytes.Buffer, m map[string]any, indent int, firstInline bool) {
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 || !firstInline {
			b.WriteString(strings.Repeat(" ", indent))
		}
		key := scalar(k)
		if len(key) > maxImplicitKey {
			// YAML caps implicit keys at 1024 characters: write an explicit "? key" instead.
			b.WriteString("? ")
			b.WriteString(key)
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent))
		} else {
			b.WriteString(key)
		}
		b.WriteByte(':')
		emitNested(b, m[k], indent+2)
	}
}

// emitSequence writes s's items at indent.
func emitSequence(b *bytes.Buffer, s []any, indent int) {
	for _, e := range s {
		b.WriteString(strings.Repeat(" ", indent))
		b.WriteByte('-')
		if m, ok := e.(map[string]any); ok && len(m) > 0 {
			b.WriteByte(' ')
			emitMapping(b, m, indent+2, true)
			continue
		}
		emitNested(b, e, indent+2)
	}
}

// emitNested writes a value after "key:" or "-": scalars and empty collections on the
// same line, collections on the following lines at indent.
func emitNested(b *bytes.Buffer, v any, indent int) {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			b.WriteString(" {}\n")
			return
		}
		b.WriteByte('\n')
		emitMapping(b, v, indent, false)
	case []any:
		if len(v) == 0 {
			b.WriteString(" []\n")
			return
		}
		b.WriteByte('\n')
		emitSequence(b, v, indent)
	default:
		b.WriteByte(' ')
		b.WriteString(scalarValue(v))
		b.WriteByte('\n')
	}
}

func scalarValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	case string:
		return scalar(v)
	}
	return scalar(fmt.Sprint(v))
}

// scalar writes a string plain when that is unambiguous, else double-quoted.
func scalar(s string) string {
	if plain(s) {
		return s
	}
	return strconv.Quote(s)
}

// yaml11Words are plain scalars some YAML reader takes for a boolean or null.
var yaml11Words = map[string]bool{
	"y": true, "n": true, "yes": true, "no": true, "true": true, "false": true,
	"on": true, "off": true, "null": true, "~": true,
}

// plain is deliberately conservative: quoting a string that did not need it is harmless.
func plain(s string) bool {
	if s == "" || len(s) > 512 || yaml11Words[strings.ToLower(s)] {
		return false
	}
	first := s[0]
	if !(isAlnum(first) || first == '/' || first == '_') {
		return false
	}
	if first >= '0' && first <= '9' && numberLike(s) && !dottedVersion(s) {
		return false
	}
	last := s[len(s)-1]
	if last == ' ' || last == ':' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c), strings.IndexByte("-_./@%+=~", c) >= 0:
		case c == ':':
			if s[i+1] == ' ' {
				return false
			}
		case c == ' ':
			if s[i+1] == '#' || s[i+1] == ' ' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// dottedVersion reports whether s is digits with two or more dots (1.2.3), which no
// YAML schema reads as a number.
func dottedVersion(s string) bool {
	return strings.Count(s, ".") >= 2 && strings.Trim(s, "0123456789.") == "" && !strings.Contains(s, "..") && s[len(s)-1] != '.'
}

// numberLike reports whether s could be read as a number, date or time by some YAML reader.
func numberLike(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte("0123456789_.:-+eExXoObBaAcCdDfFtTzZ ", s[i]) < 0 {
			return false
		}
	}
	return true
}
