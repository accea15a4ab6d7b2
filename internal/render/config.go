package render

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/marina-dev/marina/schemas"
)

// configKey is what a ConfigMap accepts as a key.
var configKey = regexp.MustCompile(`^[-._a-zA-Z0-9]{1,253}$`)

// ParseConfig reads a model's config file: a YAML mapping of keys to scalars, which
// becomes the model server's environment through a ConfigMap.
func ParseConfig(file string, raw []byte) (map[string]string, error) {
	doc, err := schemas.Parse(file, raw)
	if err != nil {
		return nil, err
	}
	m, ok := doc.Value.(map[string]any)
	if !ok {
		return nil, problem(file, 1, "", "want a mapping of keys to values, like LOG_LEVEL: info")
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		ptr := "/" + k
		if !configKey.MatchString(k) {
			return nil, problem(file, doc.Line(ptr), k, "key must be letters, digits, '-', '_' or '.'")
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		case bool:
			out[k] = strconv.FormatBool(v)
		case nil:
			out[k] = ""
		default:
			return nil, problem(file, doc.Line(ptr), k, "value must be a string, number or boolean, not a list or mapping")
		}
	}
	return out, nil
}

func problem(file string, line int, path, format string, args ...any) error {
	return &schemas.FileError{File: file, Problems: []schemas.Problem{{Path: path, Line: line, Message: fmt.Sprintf(format, args...)}}}
}
