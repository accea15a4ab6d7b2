package cli

import (
	"path"

	"github.com/spf13/cobra"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/release"
	"github.com/marina-dev/marina/internal/repo"
)

func newHistoryCommand(g *globalOptions) *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "List who deployed which version where and when, from Git",
		Long: `history reads every commit that changed applications/NAME/model.yaml and lists
each environment version change (newest first), whether marina or a person made it.`,
		Example: "  marina history fraud-detector\n  marina history fraud-detector --env prod -o json",
		Args:    exactArgs(1, "NAME"),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := registry.CheckName(args[0]); err != nil {
				return usagef("%v", err)
			}
			return g.read(func(r *repo.Repo, p *printer) error {
				if env != "" {
					if err := knownEnv(r, env); err != nil {
						return err
					}
				}
				changes, err := release.History(r, args[0], env)
				if err != nil {
					return err
				}
				if len(changes) == 0 && !r.Exists(project.ApplicationPath(args[0])) && !r.Exists(path.Join(model.Dir, args[0])) {
					return unknownModel(r, args[0])
				}
				if changes == nil {
					changes = []release.Change{}
				}
				t := table{header: []string{"TIME", "ENV", "FROM", "TO", "AUTHOR", "COMMIT", "MESSAGE"}}
				for _, c := range changes {
					t.rows = append(t.rows, []string{c.Time.Format("2006-01-02 15:04:05"), c.Environment, dash(c.From), dash(c.To), c.Author, c.Commit[:12], c.Message})
				}
				return p.print(changes, t)
			})
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
