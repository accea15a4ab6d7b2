package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/signing"
)

type modelPushOptions struct {
	*globalOptions
	registryFlags
	target, name, version, to, file string
	toRef                           oci.Reference
}

func (o *modelPushOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.to, "to", "", "registry repository to push to, HOST/REPO (default: where the version was pushed before)")
	fs.StringVar(&o.file, "file", "", "the model file, when artifact.uri is not a file in the repository (its digest must be the registered one)")
	o.registryFlags.AddFlags(fs)
}

func (o *modelPushOptions) Validate() error {
	var err error
	if o.name, o.version, err = versionArg(o.target); err != nil {
		return err
	}
	if o.to != "" {
		ref, err := oci.ParseRepository(o.to)
		if err != nil {
			return usagef("--to %v", err)
		}
		o.toRef = ref
	}
	return nil
}

// pushResult is what model push prints with -o json|yaml.
type pushResult struct {
	Version   *model.Version `json:"version"`
	Unchanged bool           `json:"unchanged"`
	Commit    string         `json:"commit,omitempty"`
}

func (o *modelPushOptions) Run(ctx context.Context) error {
	var res *registry.Result
	err := o.write(func(r *repo.Repo) error {
		g := &registry.Registry{Repo: r}
		v, err := g.Get(o.name, o.version)
		if err != nil {
			return err
		}
		meta := model.File(v.Name, v.Version)
		loc, err := v.Artifact.Locate()
		if err != nil {
			return failedf("%s: %v", meta, err)
		}
		to := o.toRef
		if cur, err := oci.ParseURI(loc.Remote); err == nil {
			if to.Host == "" || (to.Host == cur.Host && to.Repository == cur.Repository) {
				if o.file == "" {
					res = &registry.Result{Version: v, Unchanged: true}
					return nil
				}
				to = cur
			}
		}
		if to.Host == "" {
			return usagef("--to is required: the registry repository to push %s@%s to, e.g. --to registry.example.com/models/%s", o.name, o.version, o.name)
		}
		file := o.file
		if file == "" {
			if loc.Path == "" {
				return usagef("%s: artifact.uri %s is not a file in the repository; pass --file with the model file (digest %s)", meta, loc.Remote, v.Artifact.Digest)
			}
			if file, err = r.CheckRegularFile(loc.Path); err != nil {
				return failedf("%s: artifact.uri: %w", meta, err)
			}
		}
		uri, name, err := o.publisher(ctx, to)(v, file)
		if err != nil {
			return err
		}
		if v.Signing != nil && v.Signing.Bundle != "" {
			bundle, err := r.ReadFile(v.Signing.Bundle, signing.MaxBundleSize)
			if err != nil {
				return failedf("%s: signing.bundle: %v (sign the version again with marina model sign)", meta, err)
			}
			if _, err := o.attachSignature(ctx, uri, bundle); err != nil {
				return err
			}
		}
		res, err = g.RecordPush(v, uri, name)
		return err
	})
	if err != nil {
		return err
	}
	v := res.Version
	return o.result(pushResult{Version: v, Unchanged: res.Unchanged, Commit: res.Commit}, func(w io.Writer) {
		if res.Unchanged {
			fmt.Fprintf(w, "%s@%s is already at %s: nothing to do\n", v.Name, v.Version, v.Artifact.URI)
			return
		}
		fmt.Fprintf(w, "pushed %s@%s (%s, %d bytes)\n  artifact %s\n  file     %s\n  commit   %s\n",
			v.Name, v.Version, v.Artifact.Digest, v.Artifact.Size, v.Artifact.URI, model.File(v.Name, v.Version), res.Commit[:12])
	})
}

func newModelPushCommand(g *globalOptions) *cobra.Command {
	o := &modelPushOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "push NAME@VERSION [--to HOST/REPO]",
		Short: "Push a version's model file to an OCI registry and record oci://…@sha256:… in one commit",
		Long: `push packs the version's model file and its metadata into one OCI artifact and
pushes it to --to, then records where it went in models/NAME/vVERSION.json
(artifact.uri oci://HOST/REPO@sha256:<manifest digest>, artifact.file the model
file's name) in one commit. artifact.digest stays the model file's own sha256,
which serve checks. The artifact is tagged VERSION in the repository too.

The artifact is an OCI image manifest (artifactType
application/vnd.cncf.model.manifest.v1+json, from the CNCF ModelPack spec) with an
image config and one uncompressed tar layer holding model/<file> and
model/marina.json, every entry owned by 0:0, mode 0444, dated 1970: the same
version pushed twice, or to another registry, has the same digest. Kubernetes can
mount it as an image volume (/models/model/<file>) and KServe can use it as a
modelcar; marina model pull fetches the file alone.

The model file is artifact.uri when that is a file in the repository, else --file,
and its digest must be the registered one. Pushing a version already recorded at
--to (or anywhere, without --to) does nothing. Credentials come from the Docker
configuration ($DOCKER_CONFIG/config.json or ~/.docker/config.json, credential
helpers included): log in with docker login or oras login. A signed version
(marina model sign) gets its signature attached to the artifact as an OCI
referrer, where marina model pull --verify-key finds it.`,
		Example: `  marina model push fraud-detector@1.0.0 --to registry.example.com/models/fraud-detector

  # A registry on loopback without TLS, and one with a private CA
  marina model push iris-classifier@1.0.0 --to 127.0.0.1:5000/models/iris --plain-http
  marina model push iris-classifier@1.0.0 --to registry.internal/models/iris --ca-file ca.pem`,
		Args: exactArgs(1, "NAME@VERSION"),
		RunE: runE(o, func(args []string) { o.target = args[0] }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
