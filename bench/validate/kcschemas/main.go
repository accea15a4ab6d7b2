// Command kcschemas writes marina's builtin Kubernetes schemas in the layout
// kubeconform reads with -schema-location DIR/{{ .Group }}/{{ .ResourceAPIVersion }}/{{ .ResourceKind }}.json,
// so the benchmark's baseline checks the same schemas offline.
package main

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	bundle := flag.String("bundle", "internal/kubeschema/builtin/bundle.json.gz", "marina's schema bundle")
	out := flag.String("out", "", "directory to write")
	flag.Parse()
	if err := run(*bundle, *out); err != nil {
		fmt.Fprintln(os.Stderr, "kcschemas:", err)
		os.Exit(1)
	}
}

func run(bundle, out string) error {
	f, err := os.Open(bundle)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	var b struct {
		Kinds map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"kinds"`
	}
	if err := json.NewDecoder(zr).Decode(&b); err != nil {
		return err
	}
	for key, k := range b.Kinds {
		apiVersion, kind, _ := strings.Cut(key, " ")
		group, version, found := strings.Cut(apiVersion, "/")
		if !found {
			group, version = apiVersion, apiVersion // kubeconform's Group for "v1" is "v1"
		}
		p := filepath.Join(out, group, version, strings.ToLower(kind)+".json")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, k.Schema, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %d schemas to %s\n", len(b.Kinds), out)
	return nil
}
