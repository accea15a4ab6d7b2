package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/ci"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/repo"
)

type setImageOptions struct {
	*globalOptions
	branchOptions
	target, name, version, image string
	parsed                       model.Image
}

func (o *setImageOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.image, "image", "", "the built serving image, REGISTRY/REPOSITORY@sha256:… (required)")
	o.addPushFlags(fs)
}

func (o *setImageOptions) Validate() error {
	var err error
	if o.name, o.version, err = versionArg(o.target); err != nil {
		return err
	}
	if o.image == "" {
		return usagef("--image is required: the image reference with its digest, e.g. ghcr.io/acme/models/%s@sha256:…", o.name)
	}
	img, err := ci.ParseImage(o.image)
	if err != nil {
		return usagef("--image: %v", err)
	}
	o.parsed = img
	return nil
}

func (o *setImageOptions) Run(ctx context.Context) error {
	var res *ci.ImageResult
	_, err := o.commit(o.globalOptions, func(r *repo.Repo) (string, error) {
		var err error
		if res, err = ci.RecordImage(r, o.name, o.version, o.parsed); err != nil {
			return "", err
		}
		return res.Commit, nil
	})
	if err != nil {
		return err
	}
	return o.result(res.Version, func(w io.Writer) {
		if res.Unchanged {
			fmt.Fprintf(w, "%s@%s already records %s: nothing to do\n", o.name, o.version, o.parsed)
			return
		}
		verb := "recorded"
		if res.Previous != nil {
			verb = "replaced " + res.Previous.String() + " with"
		}
		fmt.Fprintf(w, "%s %s for %s@%s\n  file   %s\n  commit %s\n", verb, o.parsed, o.name, o.version, model.File(o.name, o.version), res.Commit[:12])
	})
}

func newSetImageCommand(g *globalOptions) *cobra.Command {
	o := &setImageOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "set-image NAME@VERSION --image REGISTRY/REPOSITORY@sha256:DIGEST",
		Short: "Record the serving image CI built for a version, pinned by digest, in one commit",
		Long: `set-image writes the image field of models/NAME/vVERSION.json: the serving image
CI built for the version (BuildKit), scanned (Trivy) and signed (cosign), pinned by its
digest. A tag in the reference is dropped; the digest decides what runs.

It commits the change alone. Recording the same image again does nothing; another
digest (a rebuild) replaces the one recorded. Push the commit with --push, or with git.`,
		Example: `  # DIGEST is what the registry answered to the push, sha256:…
  marina model set-image fraud-detector@1.2.0 \
    --image "ghcr.io/acme/models/fraud-detector@$DIGEST"

  # In CI, after docker/build-push-action
  marina model set-image "$REF" --image "$IMAGE@$DIGEST" --push`,
		Args: exactArgs(1, "NAME@VERSION"),
		RunE: runE(o, func(args []string) { o.target = args[0] }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
