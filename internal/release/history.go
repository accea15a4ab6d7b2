package release

import (
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
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
	_, head, err := r.Head()
	if err != nil || head.IsZero() {
		return nil, err
	}
	file := r.GitPath(project.ApplicationPath(model))
	iter, err := r.Git().Log(&git.LogOptions{From: head, FileName: &file, Order: git.LogOrderCommitterTime})
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	var out []Change
	err = iter.ForEach(func(c *object.Commit) error {
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
			if env == "" || e == env {
				names = append(names, e)
			}
		}
		slices.Sort(names)
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
		return nil
	})
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return out, err
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
