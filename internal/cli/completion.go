package cli

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo"
)

// completionRepo opens the repository for shell completion: read-only, no recovery of an interrupted operation,
// and nil when there is none (completion then offers nothing rather than an error).
func (g *globalOptions) completionRepo() *repo.Repo {
	start := g.repoPath
	if start == "" {
		start, _ = os.Getwd()
	}
	r, err := repo.Open(start)
	if err != nil {
		return nil
	}
	return r
}

// completeModels offers the registered model names.
func (g *globalOptions) completeModels(toComplete string) ([]string, cobra.ShellCompDirective) {
	r := g.completionRepo()
	if r == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer r.Close()
	names, _, _ := (&registry.Registry{Repo: r}).Models()
	return filterPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeVersions offers the registered versions of model, each with prefix before it.
func (g *globalOptions) completeVersions(model, prefix, toComplete string) ([]string, cobra.ShellCompDirective) {
	r := g.completionRepo()
	if r == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer r.Close()
	vs, _ := (&registry.Registry{Repo: r}).List(model)
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, prefix+v.Version)
	}
	return filterPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeRef offers NAME@ for the models, then NAME@VERSION for the versions of the one typed.
func (g *globalOptions) completeRef(toComplete string) ([]string, cobra.ShellCompDirective) {
	if name, _, ok := strings.Cut(toComplete, "@"); ok {
		return g.completeVersions(name, name+"@", toComplete)
	}
	names, dir := g.completeModels(toComplete)
	for i := range names {
		names[i] += "@"
	}
	return names, dir | cobra.ShellCompDirectiveNoSpace
}

// completeEnvs offers the environments of marina.yaml.
func (g *globalOptions) completeEnvs(toComplete string) ([]string, cobra.ShellCompDirective) {
	r := g.completionRepo()
	if r == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer r.Close()
	proj, err := project.Load(r)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return filterPrefix(proj.EnvironmentNames(), toComplete), cobra.ShellCompDirectiveNoFileComp
}

func filterPrefix(all []string, prefix string) []string {
	var out []string
	for _, s := range all {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// registerCompletions wires dynamic shell completion (`marina completion bash|zsh|fish|powershell`): model
// names, NAME@VERSION references, versions and environments, read from the repository.
func registerCompletions(g *globalOptions, root *cobra.Command) {
	models := func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return g.completeModels(toComplete)
	}
	refs := func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return g.completeRef(toComplete)
	}
	envs := func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return g.completeEnvs(toComplete)
	}
	modelFlag := func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return g.completeModels(toComplete)
	}
	versionOfArg := func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return g.completeVersions(args[0], "", toComplete)
	}
	args := map[string]cobra.CompletionFunc{
		"marina model register": models, "marina model list": models, "marina history": models, "marina rollback": models,
		"marina model show": refs, "marina model check": refs, "marina model set-image": refs, "marina promote": refs,
	}
	flags := map[string]map[string]cobra.CompletionFunc{
		"marina promote":        {"env": envs},
		"marina rollback":       {"env": envs, "to": versionOfArg},
		"marina history":        {"env": envs},
		"marina render":         {"env": envs, "model": modelFlag},
		"marina validate":       {"env": envs},
		"marina doctor":         {"env": envs},
		"marina model register": {"version": versionOfArg},
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if f, ok := args[c.CommandPath()]; ok {
			c.ValidArgsFunction = f
		}
		for name, f := range flags[c.CommandPath()] {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, f)
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}
