package router

import (
	"bytes"
	"encoding/json"
)

// wellFormed reports, without decoding it, that body is an inference answer of protocol as checkResponse requires:
// every answer to an inference request is checked, and a full decode cost the router 7% of its CPU (bench/router's
// profile). It is conservative: false means only that checkResponse must decode body to tell, as it does for keys
// that are not spelt exactly as the protocol's (encoding/json matches them without regard to case), escaped keys,
// repeated ones and shapes that are not plain integers.
func wellFormed(protocol string, body []byte) bool {
	if !json.Valid(body) {
		return false
	}
	s := &scanner{b: body}
	if s.peek() != '{' {
		return false
	}
	if protocol == ProtocolKServeV1 {
		return s.fields(kserveAnswer)
	}
	return s.fields(oipAnswer)
}

// member is a required member of an object and the check of its value.
type member struct {
	name  string
	check func(*scanner) bool
}

// The members checkResponse requires: of a KServe v1 answer; of an Open Inference Protocol v2 answer and of each of
// its outputs.
var (
	kserveAnswer = []member{{"predictions", (*scanner).notNull}}
	oipAnswer    = []member{{"outputs", (*scanner).outputs}}
	oipOutput    = []member{{"name", (*scanner).nonEmptyString}, {"shape", (*scanner).ints},
		{"datatype", (*scanner).nonEmptyString}, {"data", (*scanner).notNull}}
)

// scanner walks a document json.Valid accepted.
type scanner struct {
	b []byte
	i int
}

// peek skips white space and returns the next byte, 0 at the end.
func (s *scanner) peek() byte {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string and returns what is between its quotes, undecoded.
func (s *scanner) str() []byte {
	s.peek()
	start := s.i + 1
	for s.i = start; s.b[s.i] != '"'; s.i++ {
		if s.b[s.i] == '\\' {
			s.i++
		}
	}
	s.i++
	return s.b[start : s.i-1]
}

// skip passes over one value.
func (s *scanner) skip() {
	switch s.peek() {
	case '"':
		s.str()
	case '{', '[':
		depth := 0
		for {
			switch s.b[s.i] {
			case '"':
				s.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return
			}
		}
	default: // a number, true, false or null
		for s.i < len(s.b) && !end(s.b[s.i]) {
			s.i++
		}
	}
}

// fields walks an object whose required members are want; it reports whether each is there once, spelt as it is,
// and passes its check. Other members are skipped, unless their name is an escaped or other spelling of a wanted one,
// or not ASCII: encoding/json could take it for one.
func (s *scanner) fields(want []member) bool {
	s.i++ // {
	var seen uint
	for s.peek() != '}' {
		key := s.str()
		s.peek()
		s.i++ // :
		known := false
		for n, m := range want {
			switch {
			case string(key) == m.name:
				if seen&(1<<n) != 0 || !m.check(s) {
					return false
				}
				seen |= 1 << n
				known = true
			case bytes.EqualFold(key, []byte(m.name)):
				return false
			}
		}
		if !known {
			if bytes.ContainsFunc(key, func(r rune) bool { return r == '\\' || r >= 0x80 }) {
				return false
			}
			s.skip()
		}
		if s.peek() == ',' {
			s.i++
		}
	}
	s.i++
	return seen == 1<<len(want)-1
}

// notNull reads a value and reports whether it is not null.
func (s *scanner) notNull() bool {
	if s.peek() == 'n' {
		return false
	}
	s.skip()
	return true
}

// nonEmptyString reads a value and reports whether it is a string other than "".
func (s *scanner) nonEmptyString() bool {
	return s.peek() == '"' && len(s.str()) > 0
}

// ints reads a value and reports whether it is a list of integers that fit an int, written without fraction or
// exponent.
func (s *scanner) ints() bool {
	if s.peek() != '[' {
		return false
	}
	s.i++
	for s.peek() != ']' {
		start := s.i
		if s.b[s.i] == '-' {
			s.i++
		}
		digits := s.i
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
		}
		if n := s.i - digits; n == 0 || n > 18 || s.i == start {
			return false
		}
		if c := s.peek(); c == ',' {
			s.i++
		} else if c != ']' {
			return false
		}
	}
	s.i++
	return true
}

// outputs reads an Open Inference Protocol v2 answer's outputs: a list of objects, each with a name, a shape, a
// datatype and data.
func (s *scanner) outputs() bool {
	if s.peek() != '[' {
		return false
	}
	s.i++
	for s.peek() != ']' {
		if s.peek() != '{' || !s.fields(oipOutput) {
			return false
		}
		if s.peek() == ',' {
			s.i++
		}
	}
	s.i++
	return true
}

// end reports whether c ends a number or a literal.
func end(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ']', '}':
		return true
	}
	return false
}
