package schemas

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnknownFieldErrorsPointAtThePublishedFieldReference(t *testing.T) {
	t.Parallel()
	for _, d := range Documented {
		t.Run(string(d.Schema), func(t *testing.T) {
			t.Parallel()
			page := DocsPage(d.Schema)
			if _, err := os.Stat(filepath.Join("..", "docs", "reference", page)); err != nil {
				t.Fatalf("%s documents %s at docs/reference/%s: %v", d.Schema, d.File, page, err)
			}
			var v map[string]any
			err := Decode(d.Schema, d.File, []byte(`{"bogusField": 1}`), &v)
			if err == nil || !strings.Contains(err.Error(), "bogusField: unknown field (check the spelling; the allowed fields: "+DocsBase+page+")") {
				t.Errorf("%v", err)
			}
		})
	}
}
