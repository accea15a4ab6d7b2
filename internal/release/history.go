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
	w := &walk{r: r, dir: r.GitPath(project.ApplicationsDir), files: map[plumbing.Hash]fileEntry{}}
	// Each commit is compared with the next one the log yields, so it is handled once that one is read.
	var cur *object.Commit
	var curApps *object.Tree
	step := func(next *object.Commit) error {
		nextApps, err := w.applications(next)
		if err != nil {
			return err
		}
		if cur != nil {
			if err := w.compare(cur, curApps, nextApps, models, out); err != nil {
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
	dir   string                      // applications/ as Git names it (below a monorepo's prefix)
	files map[plumbing.Hash]fileEntry // a model directory's tree → its model.yaml
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

// compare adds to out, for each model whose model.yaml differs between apps (commit c's applications/) and next
// (the next commit's), the version changes c made against its first parent.
func (w *walk) compare(c *object.Commit, apps, next *object.Tree, models []string, out map[string][]Change) error {
	if apps == next || (apps != nil && next != nil && apps.Hash == next.Hash) {
		return nil
	}
	for _, model := range models {
		a, err := w.modelFile(apps, model)
		if err != nil {
			return err
		}
		b, err := w.modelFile(next, model)
		if err != nil {
			return err
		}
		if a != b {
			out[model] = append(out[model], changes(c, w.r.GitPath(project.ApplicationPath(model)))...)
		}
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

// changes are the environment version changes commit c made to file against its first parent, by environment name.
func changes(c *object.Commit, file string) []Change {
	after := versionsAt(c, file)
	var before map[string]string
	if c.NumParents() > 0 {
		if p, err := c.Parent(0); err == nil {
			before = versionsAt(p, file)
		}
	}
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

// versionsAt reads spec.environments.*.version from file in commit c. A file that
// is missing or unreadable in that commit has no versions: history still lists
// what it can read.
func versionsAt(c *object.Commit, file string) map[string]string {
	f, err := c.File(file)
	if err != nil || f.Size > schemas.MaxFileSize {
		return nil
	}
	data, err := f.Contents()
	if err != nil {
		return nil
	}
	doc, err := schemas.Parse(file, []byte(data))
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
