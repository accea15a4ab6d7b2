package registry

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
)

// Sentinel errors callers test with errors.Is.
var (
	// ErrNotFound means the model or version is not registered.
	ErrNotFound = errors.New("not registered")
	// ErrConflict means the version is registered with other content.
	ErrConflict = errors.New("conflicts with the registered version")
)

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// CheckName validates a model name: a DNS-1123 label, as it becomes Kubernetes object names.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("model name %q must be lowercase letters, digits and '-', start and end alphanumeric, at most 63 characters", name)
	}
	return nil
}

// Registry reads and writes the registry of one repository.
type Registry struct {
	Repo *repo.Repo
}

// Get loads one version; version "" or "latest" means the highest semver.
func (g *Registry) Get(name, version string) (*model.Version, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if version == "" || version == "latest" {
		all, err := g.List(name)
		if err != nil {
			return nil, err
		}
		if len(all) == 0 {
			return nil, fmt.Errorf("model %q: %w (no versions under %s/%s)", name, ErrNotFound, model.Dir, name)
		}
		return &all[len(all)-1], nil
	}
	if _, err := model.ParseSemver(version); err != nil {
		return nil, err
	}
	file := model.File(name, version)
	if !g.Repo.Exists(file) {
		return nil, fmt.Errorf("%s@%s: %w (no %s)", name, version, ErrNotFound, file)
	}
	data, err := g.Repo.ReadFile(file, schemas.MaxFileSize)
	if err != nil {
		return nil, err
	}
	return model.Parse(file, data)
}

// List returns the versions of one model, or of all models when name is "",
// ordered by model name then semver.
func (g *Registry) List(name string) ([]model.Version, error) {
	var names []string
	if name != "" {
		if err := CheckName(name); err != nil {
			return nil, err
		}
		names = []string{name}
	} else {
		var problems []error
		var err error
		if names, problems, err = g.Models(); err != nil {
			return nil, err
		}
		if len(problems) > 0 {
			return nil, problems[0]
		}
	}
	var out []model.Version
	for _, n := range names {
		dir := path.Join(model.Dir, n)
		entries, err := g.Repo.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
		var vs []model.Version
		for _, e := range entries {
			fn := e.Name()
			if e.IsDir() || !strings.HasPrefix(fn, "v") || filepath.Ext(fn) != ".json" {
				continue
			}
			file := path.Join(dir, fn)
			if e.Type()&fs.ModeSymlink != 0 {
				return nil, fmt.Errorf("%w: %s is a symlink; marina does not follow symlinks in %s/ (replace it with the file)", repo.ErrBadPath, file, model.Dir)
			}
			if err := repo.CheckPath(file); err != nil {
				return nil, err
			}
			data, err := g.Repo.ReadFile(file, schemas.MaxFileSize)
			if err != nil {
				return nil, err
			}
			v, err := model.Parse(file, data)
			if err != nil {
				return nil, err
			}
			vs = append(vs, *v)
		}
		sortVersions(vs)
		out = append(out, vs...)
	}
	return out, nil
}

// Models lists the model directories under models/, sorted. Entries no command may use (a symlink, a
// directory whose name is not a model name, like ..x) are problems wrapping repo.ErrBadPath: validate
// reports every one, the other commands refuse the first, so all give one verdict. Files directly in
// models/ are ignored.
func (g *Registry) Models() (names []string, problems []error, err error) {
	entries, err := g.Repo.ReadDir(model.Dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		p := path.Join(model.Dir, e.Name())
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			problems = append(problems, fmt.Errorf("%w: %s is a symlink; marina does not follow symlinks in %s/ (replace it with the directory)", repo.ErrBadPath, p, model.Dir))
		case !e.IsDir():
		case CheckName(e.Name()) != nil:
			problems = append(problems, fmt.Errorf("%w: %s/%q: %v (rename or remove the directory)", repo.ErrBadPath, model.Dir, e.Name(), CheckName(e.Name())))
		default:
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, problems, nil
}

func sortVersions(vs []model.Version) {
	slices.SortFunc(vs, func(a, b model.Version) int { return model.CompareVersions(a.Version, b.Version) })
}

// Registration is what to register.
type Registration struct {
	Name    string
	Version string
	// File is the artifact on disk; it is hashed and inspected.
	File string
	// URI is where the artifact lives for the cluster; default: File relative to the repository.
	URI        string
	Metrics    map[string]float64
	Labels     map[string]string
	Provenance *model.Provenance
	Now        func() time.Time
	// Progress, when set, receives a writer for the artifact's bytes as they are hashed (for a progress bar).
	Progress func(total int64) io.Writer
	// Publish, when set, uploads the new version's artifact (File) before anything is committed and returns where
	// it went; that becomes artifact.uri, and File may then be outside the repository (register --push).
	Publish Publisher
}

// Publisher uploads a version's artifact from file and returns the artifact's URI and the file's name in it
// (artifact.uri and artifact.file), e.g. oci://HOST/REPO@sha256:… and v1.0.0.onnx.
type Publisher func(v *model.Version, file string) (uri, name string, err error)

// Result says what Register did.
type Result struct {
	Version *model.Version
	// Unchanged is true when the same digest was already registered with the same metrics and labels (a no-op).
	Unchanged bool
	// Updated lists what a registration of an existing version changed ("metric accuracy: 0.91 → 0.93").
	Updated []string
	Commit  string
}

// Register hashes and inspects the artifact, writes models/<name>/v<version>.json,
// and commits it with the tags <name>@v<version> and v<version>-<short sha>.
// The caller holds the repository lock.
func (g *Registry) Register(reg Registration) (*Result, error) {
	if err := CheckName(reg.Name); err != nil {
		return nil, err
	}
	if _, err := model.ParseSemver(reg.Version); err != nil {
		return nil, err
	}
	file := model.File(reg.Name, reg.Version)
	if g.Repo.Exists(file) && reg.Publish != nil {
		return nil, fmt.Errorf("%s@%s: %w: the version is registered already; push its artifact with marina model push %s@%s --to HOST/REPO", reg.Name, reg.Version, ErrConflict, reg.Name, reg.Version)
	}
	if g.Repo.Exists(file) {
		return g.update(reg)
	}
	if reg.File == "" {
		return nil, fmt.Errorf("%s@%s: %w: --file is required to register a new version", reg.Name, reg.Version, ErrNotFound)
	}
	digest, size, err := digestArtifact(reg)
	if err != nil {
		return nil, fmt.Errorf("--file %s: %w", reg.File, err)
	}
	_, head, err := g.Repo.Head()
	if err != nil {
		return nil, err
	}
	if head.IsZero() {
		return nil, fmt.Errorf("%s has no commits yet; create the repository with `marina init`", g.Repo.Root)
	}
	uri := reg.URI
	switch {
	case reg.Publish != nil && uri != "":
		return nil, fmt.Errorf("--uri %s: the artifact's URI comes from where it is pushed; leave --uri out", uri)
	case reg.Publish != nil: // set once pushed, below
	case uri == "":
		if uri, err = g.artifactPath(reg.File); err != nil {
			return nil, err
		}
		fallthrough
	default:
		if _, err := (model.Artifact{URI: uri}).Locate(); err != nil {
			return nil, fmt.Errorf("--uri: %w", err)
		}
	}
	insp, err := model.Inspect(reg.File)
	if err == nil {
		err = insp.CheckName(reg.File)
	}
	if err != nil {
		return nil, fmt.Errorf("--file %s: %w", reg.File, err)
	}
	now := time.Now
	if reg.Now != nil {
		now = reg.Now
	}
	short := head.String()[:7]
	v := &model.Version{
		Name:       reg.Name,
		Version:    reg.Version,
		Tag:        "v" + reg.Version + "-" + short,
		Format:     insp.Format,
		Artifact:   model.Artifact{URI: uri, Digest: digest, Size: size},
		Metrics:    reg.Metrics,
		Provenance: reg.Provenance,
		Created:    now().UTC().Truncate(time.Second),
		State:      model.StateRegistered,
		Labels:     reg.Labels,
	}
	if insp.Format == "onnx" {
		v.Signature = &model.Signature{Opset: insp.Opset, IRVersion: insp.IRVersion, Producer: insp.Producer, Inputs: insp.Inputs, Outputs: insp.Outputs}
	}
	if reg.Publish != nil {
		if v.Artifact.URI, v.Artifact.File, err = reg.Publish(v, reg.File); err != nil {
			return nil, err
		}
	}
	data, err := encode(file, v)
	if err != nil {
		return nil, err
	}
	commit, err := g.Repo.Commit(repo.Commit{
		Message: fmt.Sprintf("model: register %s v%s\n\nDigest: %s\nTag: %s\n", reg.Name, reg.Version, digest, v.Tag),
		Changes: []repo.Change{{Path: file, Data: data}},
		Tags: []repo.Tag{
			{Name: reg.Name + "@v" + reg.Version, Message: fmt.Sprintf("Registering model %s version v%s", reg.Name, reg.Version)},
			{Name: v.Tag, Message: fmt.Sprintf("%s v%s (%s)", reg.Name, reg.Version, digest)},
		},
	})
	if err != nil {
		return nil, err
	}
	return &Result{Version: v, Commit: commit.String()}, nil
}

// update records reg's metrics and labels on a registered version, in one commit: versions are immutable, but what
// was measured about them (model check, a later evaluation) and how they are labelled may grow. reg.File, when
// given, must have the registered digest. Nothing new is a no-op.
func (g *Registry) update(reg Registration) (*Result, error) {
	cur, err := g.Get(reg.Name, reg.Version)
	if err != nil {
		return nil, err
	}
	file := model.File(reg.Name, reg.Version)
	if reg.File != "" {
		digest, _, err := digestArtifact(reg)
		if err != nil {
			return nil, fmt.Errorf("--file %s: %w", reg.File, err)
		}
		if cur.Artifact.Digest != digest {
			return nil, fmt.Errorf("%s@%s: %w: %s records %s, the file has %s; register it as a new version", reg.Name, reg.Version, ErrConflict, file, cur.Artifact.Digest, digest)
		}
	}
	if reg.URI != "" && reg.URI != cur.Artifact.URI {
		return nil, fmt.Errorf("%s@%s: %w: %s records the artifact at %s, not %s; register a new version to move it", reg.Name, reg.Version, ErrConflict, file, cur.Artifact.URI, reg.URI)
	}
	if reg.Provenance != nil && (cur.Provenance == nil || cur.Provenance.GitCommit != reg.Provenance.GitCommit || cur.Provenance.DatasetDigest != reg.Provenance.DatasetDigest) {
		return nil, fmt.Errorf("%s@%s: %w: the training provenance of a registered version cannot change; register a new version", reg.Name, reg.Version, ErrConflict)
	}
	var changed []string
	cur.Metrics, changed = merge(cur.Metrics, reg.Metrics, "metric ", changed, func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) })
	cur.Labels, changed = merge(cur.Labels, reg.Labels, "label ", changed, func(v string) string { return v })
	if len(changed) == 0 {
		return &Result{Version: cur, Unchanged: true}, nil
	}
	data, err := encode(file, cur)
	if err != nil {
		return nil, err
	}
	commit, err := g.Repo.Commit(repo.Commit{
		Message: fmt.Sprintf("model: record %s on %s v%s\n\n%s\n", strings.Join(changedNames(changed), ", "), reg.Name, reg.Version, strings.Join(changed, "\n")),
		Changes: []repo.Change{{Path: file, Data: data}},
	})
	if err != nil {
		return nil, err
	}
	return &Result{Version: cur, Updated: changed, Commit: commit.String()}, nil
}

// merge sets add's entries in cur and appends "<kind><key>: <old> → <new>" to changed for each one that differs.
func merge[V comparable](cur, add map[string]V, kind string, changed []string, format func(V) string) (map[string]V, []string) {
	keys := make([]string, 0, len(add))
	for k := range add {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		old, had := cur[k]
		if had && old == add[k] {
			continue
		}
		from := "(none)"
		if had {
			from = format(old)
		}
		if cur == nil {
			cur = map[string]V{}
		}
		cur[k] = add[k]
		changed = append(changed, fmt.Sprintf("%s%s: %s → %s", kind, k, from, format(add[k])))
	}
	return cur, changed
}

// changedNames is the "metric accuracy" part of merge's lines.
func changedNames(changed []string) []string {
	out := make([]string, len(changed))
	for i, c := range changed {
		out[i], _, _ = strings.Cut(c, ":")
	}
	return out
}

func digestArtifact(reg Registration) (string, int64, error) {
	if reg.Progress == nil {
		return model.DigestFile(reg.File)
	}
	f, err := os.Open(reg.File)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	return model.Digest(io.TeeReader(f, reg.Progress(st.Size())))
}

// artifactPath is the artifact's path relative to the repository. A file outside the repository
// has no path the cluster, validate or model check could read, so it needs --uri.
func (g *Registry) artifactPath(file string) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", fmt.Errorf("--file %s: %w", file, err)
	}
	rel, err := filepath.Rel(g.Repo.Root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("--file %s: %w: the file is outside the repository %s; pass --uri with where the cluster fetches it (oci://, s3://, gs://, https://), or commit it into the repository", file, repo.ErrBadPath, g.Repo.Root)
	}
	rel = filepath.ToSlash(rel)
	if _, err := g.Repo.CheckRegularFile(rel); err != nil {
		return "", fmt.Errorf("--file %s: %w", file, err)
	}
	return rel, nil
}

// encode renders v as its metadata file, checked with the schema its readers use: nothing is committed that
// marina could not read back.
func encode(file string, v *model.Version) ([]byte, error) {
	data, err := v.Marshal()
	if err != nil {
		return nil, err
	}
	if _, err := model.Parse(file, data); err != nil {
		return nil, err
	}
	return data, nil
}

// SetState changes a version's state (e.g. blocked) and returns the new file content.
func SetState(v *model.Version, state, reason string) ([]byte, error) {
	v.State = state
	v.StateReason = reason
	return v.Marshal()
}
