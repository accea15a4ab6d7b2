package release

import (
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/schemas"
)

// Change is one deployment change read from Git: an environment's version moving.
type Change struct {
	Time        time.Time `json:"time"`
	Author      string    `json:"author"`
	Environment string    `json:"environment"`
	From        string    `json:"from,omitempty"`
	To          string    `json:"to,omitempty"`
	Commit      string    `json:"commit"`
	Message     string    `json:"message"`
}

// History lists every change of the model's per-environment versions, newest
// first, by comparing model.yaml in each commit that touched it with its parent.
// env "" means every environment.
func History(r *repo.Repo, model, env string) ([]Change, error) {
	all, err := Histories(r, []string{model})
	if err != nil || env == "" {
		return all[model], err
	}
	var out []Change
	for _, c := range all[model] {
		if c.Environment == env {
			out = append(out, c)
		}
	}
	return out, nil
}

// Histories is History of every environment for each of models, read in one walk of the log: the commits are
// those git log -- applications/NAME/model.yaml lists for each model, in committer-time order, each compared with
// the commit after it in that order for whether it touched the file.
func Histories(r *repo.Repo, models []string) (map[string][]Change, error) {
	out := map[string][]Change{}
	_, head, err := r.Head()
	if err != nil || head.IsZero() {
		return out, err
	}
	iter, err := r.Git().Log(&git.LogOptions{From: head, Order: git.LogOrderCommitterTime})
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	w := &walk{r: r, dir: r.GitPath(project.ApplicationsDir), files: map[plumbing.Hash]fileEntry{}, read: map[plumbing.Hash]map[string]string{}}
	// Each commit is compared with the next one the log yields, so it is handled once that one is read.
	var cur *object.Commit
	var curApps *object.Tree
	step := func(next *object.Commit) error {
		nextApps, err := w.applications(next)
		if err != nil {
			return err
		}
		if cur != nil {
			if err := w.compare(cur, curApps, next, nextApps, models, out); err != nil {
				return err
			}
		}
		cur, curApps = next, nextApps
		return nil
	}
	err = iter.ForEach(step)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if err == nil && cur != nil {
		err = step(nil)
	}
	return out, err
}

// walk reads the model.yaml files of applications/ commit by commit; a model directory's tree is read once per
// hash.
type walk struct {
	r     *repo.Repo
	dir   string                              // applications/ as Git names it (below a monorepo's prefix)
	files map[plumbing.Hash]fileEntry         // a model directory's tree → its model.yaml
	read  map[plumbing.Hash]map[string]string // a model.yaml's content → its versions
}

// fileEntry is a file's entry in a tree: what git log compares to tell whether a commit touched the file.
type fileEntry struct {
	hash plumbing.Hash
	mode filemode.FileMode
}

// applications is commit c's applications/ tree; nil when c is nil (before the first commit) or has none.
func (w *walk) applications(c *object.Commit) (*object.Tree, error) {
	if c == nil {
		return nil, nil
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	apps, err := tree.Tree(w.dir)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, nil
	}
	return apps, err
}

// compare adds to out, for each model whose model.yaml differs between apps (commit c's applications/) and
// nextApps (those of next, the commit after c in the log's order; nil after the last), the version changes c made
// against its first parent.
func (w *walk) compare(c *object.Commit, apps *object.Tree, next *object.Commit, nextApps *object.Tree, models []string, out map[string][]Change) error {
	if apps == nextApps || (apps != nil && nextApps != nil && apps.Hash == nextApps.Hash) {
		return nil
	}
	// The first parent's applications/, read once for all the models c touched; nil without a parent, or when it
	// cannot be read (a shallow clone): then every version is new.
	var parentApps *object.Tree
	parentRead := false
	for _, model := range models {
		after, err := w.modelFile(apps, model)
		if err != nil {
			return err
		}
		later, err := w.modelFile(nextApps, model)
		if err != nil {
			return err
		}
		if after == later {
			continue
		}
		if !parentRead {
			parentRead = true
			switch {
			case c.NumParents() == 0:
			case next != nil && c.ParentHashes[0] == next.Hash:
				parentApps = nextApps
			default:
				if p, err := c.Parent(0); err == nil {
					parentApps, _ = w.applications(p)
				}
			}
		}
		before, _ := w.modelFile(parentApps, model)
		file := w.r.GitPath(project.ApplicationPath(model))
		out[model] = append(out[model], versionChanges(c, w.versions(file, before), w.versions(file, after))...)
	}
	return nil
}

// modelFile is the entry of model's model.yaml in apps; zero when there is none.
func (w *walk) modelFile(apps *object.Tree, model string) (fileEntry, error) {
	if apps == nil {
		return fileEntry{}, nil
	}
	dir, err := apps.FindEntry(model)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) || (err == nil && dir.Mode != filemode.Dir) {
		return fileEntry{}, nil
	}
	if err != nil {
		return fileEntry{}, err
	}
	if f, ok := w.files[dir.Hash]; ok {
		return f, nil
	}
	sub, err := w.r.Git().TreeObject(dir.Hash)
	if err != nil {
		return fileEntry{}, err
	}
	var f fileEntry
	if e, err := sub.FindEntry(project.ApplicationFile); err == nil && e.Mode.IsFile() {
		f = fileEntry{hash: e.Hash, mode: e.Mode}
	}
	w.files[dir.Hash] = f
	return f, nil
}

// versions reads spec.environments.*.version from the model.yaml of entry f, named file; nil when there is none
// or it cannot be read: history still lists what it can read. Each content is read once.
func (w *walk) versions(file string, f fileEntry) map[string]string {
	if f.hash.IsZero() {
		return nil
	}
	if v, ok := w.read[f.hash]; ok {
		return v
	}
	var v map[string]string
	if blob, err := w.r.Git().BlobObject(f.hash); err == nil && blob.Size <= schemas.MaxFileSize {
		if rd, err := blob.Reader(); err == nil {
			if data, err := io.ReadAll(rd); err == nil {
				v = versions(file, data)
			}
			rd.Close()
		}
	}
	w.read[f.hash] = v
	return v
}

// versionChanges are the changes commit c made from the versions before (its first parent's) to after, by
// environment name.
func versionChanges(c *object.Commit, before, after map[string]string) []Change {
	envs := map[string]bool{}
	for e := range after {
		envs[e] = true
	}
	for e := range before {
		envs[e] = true
	}
	names := make([]string, 0, len(envs))
	for e := range envs {
		names = append(names, e)
	}
	slices.Sort(names)
	var out []Change
	for _, e := range names {
		if before[e] == after[e] {
			continue
		}
		out = append(out, Change{
			Time: c.Author.When.UTC(), Author: c.Author.Name + " <" + c.Author.Email + ">",
			Environment: e, From: before[e], To: after[e],
			Commit: c.Hash.String(), Message: strings.SplitN(strings.TrimSpace(c.Message), "\n", 2)[0],
		})
	}
	return out
}

// versions reads spec.environments.*.version from a model.yaml; nil when it does not parse.
func versions(file string, data []byte) map[string]string {
	doc, err := schemas.Parse(file, data)
	if err != nil {
		return nil
	}
	root, _ := doc.Value.(map[string]any)
	spec, _ := root["spec"].(map[string]any)
	envs, _ := spec["environments"].(map[string]any)
	out := map[string]string{}
	for name, v := range envs {
		m, _ := v.(map[string]any)
		if s, ok := m["version"].(string); ok {
			out[name] = s
		}
	}
	return out
}
