package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/marina-dev/marina/internal/kubeschema"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var openapi, crds, experimental listFlag
	out := flag.String("out", "", "file to write the gzipped bundle to")
	skip := flag.String("skip-groups", "", "comma-separated API groups of the OpenAPI spec to leave out")
	flag.Var(&openapi, "openapi", "MODULE@VERSION=DIR: a directory of Kubernetes OpenAPI v3 files (repeatable)")
	flag.Var(&crds, "crds", "MODULE@VERSION=DIR: a directory of CustomResourceDefinitions (repeatable)")
	flag.Var(&experimental, "gateway-api-experimental", "MODULE@VERSION=DIR: Gateway API's experimental-channel CRDs (once)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 || (len(openapi) == 0 && len(crds) == 0) {
		fmt.Fprintln(os.Stderr, "usage: go run ./hack/kubeschemas -out FILE [-openapi MOD@V=DIR]… [-crds MOD@V=DIR]…")
		os.Exit(2)
	}
	skipped := map[string]bool{}
	for _, g := range strings.Split(*skip, ",") {
		if g = strings.TrimSpace(g); g != "" {
			skipped[g] = true
		}
	}
	if err := run(*out, openapi, crds, experimental, skipped); err != nil {
		fmt.Fprintln(os.Stderr, "kubeschemas:", err)
		os.Exit(1)
	}
}

func run(out string, openapi, crds, experimental []string, skipped map[string]bool) error {
	b := kubeschema.NewBundle()
	addOpenAPI := func(source, dir string) (int, string, error) {
		files, err := stableGroupVersions(dir, skipped)
		if err != nil {
			return 0, "", err
		}
		total := 0
		for _, f := range files {
			spec, err := os.ReadFile(f)
			if err != nil {
				return 0, "", err
			}
			n, err := b.AddOpenAPI(source, spec, nil)
			if err != nil {
				return 0, "", fmt.Errorf("%s: %w", f, err)
			}
			total += n
		}
		return total, fmt.Sprintf(" from %d group versions", len(files)), nil
	}
	addCRDs := func(source, dir string) (int, string, error) {
		n, err := b.AddCRDs(source, dir)
		return n, "", err
	}
	addExperimental := func(source, dir string) (int, string, error) {
		n, err := b.AddExperimentalCRDs(source, dir)
		return n, " (experimental channel)", err
	}
	for _, a := range []struct {
		args []string
		add  func(source, dir string) (int, string, error)
	}{{openapi, addOpenAPI}, {crds, addCRDs}, {experimental, addExperimental}} {
		if err := addAll(a.args, a.add); err != nil {
			return err
		}
	}
	data, err := b.Encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: %d kinds, %d bytes (%.2f MB)\n", out, len(b.Kinds()), len(data), float64(len(data))/(1<<20))
	return nil
}

// addAll adds the directories of MODULE@VERSION=DIR arguments with add, logging the kinds each one brought and
// add's note about them.
func addAll(args []string, add func(source, dir string) (kinds int, note string, err error)) error {
	for _, arg := range args {
		source, dir, err := split(arg)
		if err != nil {
			return err
		}
		n, note, err := add(source, dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%-55s %4d kinds%s\n", source, n, note)
	}
	return nil
}

func split(arg string) (source, dir string, err error) {
	source, dir, ok := strings.Cut(arg, "=")
	if !ok || source == "" || dir == "" || !strings.Contains(source, "@") {
		return "", "", fmt.Errorf("%q: want MODULE@VERSION=DIR", arg)
	}
	return source, dir, nil
}

// specFile matches api__v1_openapi.json and apis__GROUP__VERSION_openapi.json; stable versions only.
var specFile = regexp.MustCompile(`^(?:api|apis__(.+))__(v[0-9]+)_openapi\.json$`)

// stableGroupVersions lists the OpenAPI files of dir that describe a stable group version, sorted.
func stableGroupVersions(dir string, skipped map[string]bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		m := specFile.FindStringSubmatch(e.Name())
		if m == nil || skipped[m[1]] || (m[1] == "" && skipped["core"]) {
			continue
		}
		files = append(files, filepath.Join(dir, e.Name()))
	}
	if len(files) == 0 {
		return nil, errors.New(dir + ": no OpenAPI v3 file of a stable group version")
	}
	slices.Sort(files)
	return files, nil
}
