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
	channel := flag.String("gateway-api-channel", "standard", "standard, or experimental to write Gateway API's experimental-channel schemas instead")
	flag.Parse()
	if err := run(*bundle, *out, *channel == "experimental"); err != nil {
		fmt.Fprintln(os.Stderr, "kcschemas:", err)
		os.Exit(1)
	}
}

func run(bundle, out string, experimental bool) error {
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
		Experimental map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"experimental"`
	}
	if err := json.NewDecoder(zr).Decode(&b); err != nil {
		return err
	}
	if experimental {
		for key, k := range b.Experimental {
			b.Kinds[key] = k
		}
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
