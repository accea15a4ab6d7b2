package serve

import (
	"encoding/json"
	"errors"
	"slices"
	"unicode/utf8"
)

// A token of tensor data, as tokens reads it.
type token struct {
	kind byte   // '[', ']', '{', '}', '"' (a string), '0' (a number), 't' or 'f' (a boolean), 'n' (null); 0 at the end
	text []byte // the token as written: a number's digits, a string with its quotes and escapes
}

// tokens reads the tokens of one JSON value that encoding/json has already checked is valid, as it leaves a
// json.RawMessage. It replaces json.Decoder.Token on the serving hot path: that boxes every number in an
// interface and copied the data, and made readData 6.5% of marina serve's CPU per request in bench/serve's
// profile. Input that is not valid JSON ends the tokens with an error, never a panic (FuzzTokensMatchEncodingJSON
// checks it against json.Decoder.Token).
type tokens struct {
	b []byte
	i int
}

var errTokens = errors.New("data is not valid JSON")

// next returns the next token, skipping white space, commas and colons.
func (s *tokens) next() (token, error) {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r', ',', ':':
			s.i++
			continue
		}
		break
	}
	if s.i == len(s.b) {
		return token{}, nil
	}
	start := s.i
	c := s.b[s.i]
	switch {
	case c == '[' || c == ']' || c == '{' || c == '}':
		s.i++
		return token{kind: c, text: s.b[start:s.i]}, nil
	case c == '"':
		for s.i++; s.i < len(s.b); s.i++ {
			switch s.b[s.i] {
			case '\\':
				s.i++
			case '"':
				s.i++
				return token{kind: '"', text: s.b[start:s.i]}, nil
			}
		}
		return token{}, errTokens
	case c == '-' || ('0' <= c && c <= '9'):
		for s.i++; s.i < len(s.b) && isNumberByte(s.b[s.i]); s.i++ {
		}
		return token{kind: '0', text: s.b[start:s.i]}, nil
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(s.b)-start >= len(lit) && string(s.b[start:start+len(lit)]) == lit {
			s.i += len(lit)
			return token{kind: lit[0], text: s.b[start:s.i]}, nil
		}
	}
	return token{}, errTokens
}

// value returns the next value as written: a number, string or literal, or a whole array or object.
func (s *tokens) value() ([]byte, error) {
	tok, err := s.next()
	if err != nil || tok.kind == 0 || tok.kind == ']' || tok.kind == '}' {
		return nil, errTokens
	}
	start := s.i - len(tok.text)
	for depth := 0; ; {
		switch tok.kind {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		}
		if depth == 0 {
			return s.b[start:s.i], nil
		}
		if tok, err = s.next(); err != nil || tok.kind == 0 {
			return nil, errTokens
		}
	}
}

// object reads an object, calling field with each key once the reader is at its value; it returns false at
// anything but an object, a repeated key, or when field does.
func (s *tokens) object(field func(key string) bool) bool {
	if tok, err := s.next(); err != nil || tok.kind != '{' {
		return false
	}
	var seen [8]string // more keys than any object of the protocol has is no request parseInferRequest reads
	for n := 0; ; n++ {
		tok, err := s.next()
		if err != nil || (tok.kind != '"' && tok.kind != '}') {
			return false
		}
		if tok.kind == '}' {
			return true
		}
		key, err := tok.str()
		if err != nil || n == len(seen) || slices.Contains(seen[:n], key) || !field(key) {
			return false
		}
		seen[n] = key
	}
}

// array reads an array, calling elem once the reader is at each element; it returns false at anything but an
// array, or when elem does.
func (s *tokens) array(elem func() bool) bool {
	if tok, err := s.next(); err != nil || tok.kind != '[' {
		return false
	}
	for {
		save := s.i
		tok, err := s.next()
		if err != nil || tok.kind == 0 {
			return false
		}
		if tok.kind == ']' {
			return true
		}
		s.i = save
		if !elem() {
			return false
		}
	}
}

// string reads a string into v; it returns false at anything else.
func (s *tokens) string(v *string) bool {
	tok, err := s.next()
	if err != nil || tok.kind != '"' {
		return false
	}
	*v, err = tok.str()
	return err == nil
}

// raw reads any value but null into v, as written.
func (s *tokens) raw(v *json.RawMessage) bool {
	b, err := s.value()
	if err != nil || string(b) == "null" {
		return false
	}
	*v = b
	return true
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// str is a string token's value.
func (t token) str() (string, error) {
	body := t.text[1 : len(t.text)-1]
	for _, c := range body {
		if c == '\\' || c >= utf8.RuneSelf {
			// Escapes and non-ASCII text (where invalid UTF-8 becomes U+FFFD): JSON's rules, as encoding/json keeps them.
			var s string
			err := json.Unmarshal(t.text, &s)
			return s, err
		}
	}
	return string(body), nil
}
