package dryrun

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	kresource "sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
)

// Dirs are the top-level directories whose manifests a GitOps engine applies.
var Dirs = []string{"applications", "infrastructure", "gitops"}

// originAnnotation is where kustomize records an object's source file when a kustomization asks for
// buildMetadata: [originAnnotations] (its own constant is internal).
const originAnnotation = "config.kubernetes.io/origin"

// Object is one object to check and the repository file it comes from.
type Object struct {
	// File is the repository-relative file the object is defined in.
	File   string
	Object *unstructured.Unstructured
}

// Problem is something that kept an object or a kustomization from being checked, or the server's verdict on
// an object.
type Problem struct {
	File    string
	Object  string // kind/namespace/name, "" for a file-level problem
	Field   string // the field path the server named, if any
	Message string
	// Hint says what to do, when the fix is not to edit the field the server names.
	Hint string
	// Skipped marks a problem that stopped the check rather than a rejection by the server.
	Skipped bool
}

// Collect reads the manifests under Dirs into memory and returns the objects they deploy: every kustomization
// no other kustomization includes, built with the kustomize library as Argo CD and Flux build it, and every
// YAML file in a directory without a kustomization. skip, if not nil, leaves out a directory (and everything
// below it), e.g. the directories of other environments. Reads never leave the repository; symlinks are not
// followed. Problems are kustomizations that do not build; the error is for an unreadable repository.
func Collect(r *repo.Repo, skip func(dir string) bool) ([]Object, []Problem, error) {
	c := &collector{r: r, fs: filesys.MakeFsInMemory(), skip: skip, kustomizations: map[string]string{}}
	for _, d := range Dirs {
		if !r.Exists(d) {
			continue
		}
		if err := c.walk(d); err != nil {
			return nil, nil, err
		}
	}
	included := map[string]bool{}
	for dir, file := range c.kustomizations {
		for _, ref := range c.references(file) {
			included[path.Clean(path.Join(dir, ref))] = true
		}
	}
	var roots []string
	for dir := range c.kustomizations {
		if !included[dir] {
			roots = append(roots, dir)
		}
	}
	slices.Sort(roots)
	var objs []Object
	var problems []Problem
	for _, dir := range roots {
		o, p := c.build(dir)
		objs, problems = append(objs, o...), append(problems, p...)
	}
	for _, file := range c.plain {
		o, p := plainObjects(file, c.files[file])
		objs, problems = append(objs, o...), append(problems, p...)
	}
	return dedupe(objs), problems, nil
}

type collector struct {
	r    *repo.Repo
	fs   filesys.FileSystem
	skip func(string) bool
	// kustomizations maps a directory to its kustomization file.
	kustomizations map[string]string
	// files holds what was read, by path; plain lists the manifests of directories without a kustomization.
	files map[string][]byte
	plain []string
}

func (c *collector) walk(dir string) error {
	if c.skip != nil && c.skip(dir) {
		return nil
	}
	entries, err := c.r.ReadDir(dir)
	if err != nil {
		return err
	}
	var manifests []string
	kustomization := ""
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), "."), e.Type()&fs.ModeSymlink != 0:
			// Dot files are not deployed; symlinks are reported by the offline checks and never followed.
		case e.IsDir():
			if err := c.walk(p); err != nil {
				return err
			}
		case slices.Contains(konfig.RecognizedKustomizationFileNames(), e.Name()):
			kustomization = p
		case IsManifest(e.Name()):
			manifests = append(manifests, p)
		}
	}
	for _, p := range append(manifests, kustomization) {
		if p == "" {
			continue
		}
		data, err := c.r.ReadFile(p, schemas.MaxManifestSize)
		if err != nil {
			return err
		}
		if c.files == nil {
			c.files = map[string][]byte{}
		}
		c.files[p] = data
		if p == kustomization {
			c.kustomizations[dir] = p
			data = withOrigins(data)
		}
		if err := c.fs.WriteFile("/"+p, data); err != nil {
			return err
		}
	}
	// applications/<model>/ holds marina's own files; only its environment directories are deployed.
	if kustomization == "" && !isMarinaDir(dir) {
		c.plain = append(c.plain, manifests...)
	}
	return nil
}

// isMarinaDir reports whether dir is applications/<model>, whose model.yaml and config files marina reads itself.
func isMarinaDir(dir string) bool {
	parts := strings.Split(dir, "/")
	return parts[0] == "applications" && len(parts) <= 2
}

// IsManifest reports whether a file named name holds Kubernetes objects to apply: YAML or JSON, by its extension.
// marina validate reads the same files offline.
func IsManifest(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// withOrigins asks kustomize to annotate each object with the file it came from, so a rejection names the file.
// A kustomization that does not parse is left alone: building it reports the error.
func withOrigins(data []byte) []byte {
	var k map[string]any
	if err := yaml.Unmarshal(data, &k); err != nil || k == nil {
		return data
	}
	k["buildMetadata"] = []string{types.OriginAnnotations}
	out, err := yaml.Marshal(k)
	if err != nil {
		return data
	}
	return out
}

// references lists the local resources and components a kustomization includes.
func (c *collector) references(file string) []string {
	var k types.Kustomization
	if err := yaml.Unmarshal(c.files[file], &k); err != nil {
		return nil
	}
	return append(slices.Clone(k.Resources), k.Components...)
}

// build runs kustomize on one root directory.
func (c *collector) build(dir string) ([]Object, []Problem) {
	file := c.kustomizations[dir]
	for _, ref := range c.references(file) {
		if strings.Contains(ref, "://") || strings.HasPrefix(ref, "github.com/") {
			return nil, []Problem{{File: file, Skipped: true,
				Message: fmt.Sprintf("remote resource %q: marina does not fetch remote bases; check this kustomization with the engine", ref)}}
		}
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone // the in-memory tree holds nothing but the repository
	resMap, err := krusty.MakeKustomizer(opts).Run(c.fs, "/"+dir)
	if err != nil {
		return nil, []Problem{{File: file, Skipped: true, Message: "kustomize build: " + strings.ReplaceAll(err.Error(), "/"+dir, dir)}}
	}
	var objs []Object
	var problems []Problem
	for _, res := range resMap.Resources() {
		m, err := res.Map()
		if err != nil {
			problems = append(problems, Problem{File: file, Skipped: true, Message: err.Error()})
			continue
		}
		u, err := Unstructured(m)
		if err != nil {
			problems = append(problems, Problem{File: file, Skipped: true, Message: err.Error()})
			continue
		}
		objs = append(objs, Object{File: origin(u, dir, file), Object: u})
	}
	return objs, problems
}

// origin removes kustomize's origin annotation from u and returns the repository file it names, or fallback.
func origin(u *unstructured.Unstructured, dir, fallback string) string {
	ann := u.GetAnnotations()
	raw, ok := ann[originAnnotation]
	if !ok {
		return fallback
	}
	delete(ann, originAnnotation)
	if len(ann) == 0 {
		ann = nil
	}
	u.SetAnnotations(ann)
	var o kresource.Origin
	if err := yaml.Unmarshal([]byte(raw), &o); err != nil || o.Path == "" || o.Repo != "" {
		return fallback
	}
	return path.Clean(path.Join(dir, o.Path))
}

// plainObjects parses a manifest of a directory without a kustomization; anything that is not a Kubernetes
// object (no apiVersion or kind) is not deployed by an engine either, and is left out.
func plainObjects(file string, data []byte) ([]Object, []Problem) {
	docs, err := schemas.ParseStream(file, data, schemas.MaxManifestSize)
	if err != nil {
		return nil, []Problem{{File: file, Skipped: true, Message: err.Error()}}
	}
	var objs []Object
	var problems []Problem
	for _, d := range docs {
		m, ok := d.Value.(map[string]any)
		if !ok || m["apiVersion"] == nil || m["kind"] == nil {
			continue
		}
		u, err := Unstructured(m)
		if err != nil {
			problems = append(problems, Problem{File: file, Skipped: true, Message: fmt.Sprintf("line %d: %v", d.Line(""), err)})
			continue
		}
		objs = append(objs, Object{File: file, Object: u})
	}
	return objs, problems
}

// Unstructured converts a decoded YAML tree into an object with the JSON value types apimachinery expects
// (int64 and float64 numbers).
func Unstructured(m map[string]any) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	return u, nil
}

// dedupe keeps the first of objects that two roots both deploy (e.g. with both Argo CD and Flux configured).
func dedupe(objs []Object) []Object {
	seen := map[string]bool{}
	out := objs[:0]
	for _, o := range objs {
		k := Key(o.Object)
		if !seen[k] {
			seen[k] = true
			out = append(out, o)
		}
	}
	return out
}

// Key names an object as kind/namespace/name (kind/name when cluster-scoped or namespace-less).
func Key(u *unstructured.Unstructured) string {
	k := u.GroupVersionKind().GroupKind().String()
	if ns := u.GetNamespace(); ns != "" {
		return k + "/" + ns + "/" + u.GetName()
	}
	return k + "/" + u.GetName()
}
