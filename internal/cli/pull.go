package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/registry"
)

type modelPullOptions struct {
	*globalOptions
	registryFlags
	target, dir string
	verifyKeys  []string
}

func (o *modelPullOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.dir, "dir", ".", "directory to write the model file into (created if missing)")
	fs.StringSliceVar(&o.verifyKeys, "verify-key", nil, "PEM public key: keep the file only if a signature attached to the artifact by it signs the model file (repeatable: one suffices)")
	o.registryFlags.AddFlags(fs)
}

func (o *modelPullOptions) Validate() error {
	if o.dir == "" {
		return usagef("--dir must not be empty")
	}
	if strings.HasPrefix(o.target, oci.Scheme) {
		if _, err := oci.ParseURI(o.target); err != nil {
			return usagef("%v", err)
		}
		return nil
	}
	name, version, ok := strings.Cut(o.target, "@")
	if !ok || version == "" {
		return usagef("%q: name the version as NAME@VERSION, or the artifact as oci://HOST/REPO@sha256:…", o.target)
	}
	if err := registry.CheckName(name); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// pullResult is what model pull prints with -o json|yaml.
type pullResult struct {
	Artifact string `json:"artifact"`
	File     string `json:"file"`
	Digest   string `json:"digest"`
	Cached   bool   `json:"cached"`
	// Signature is the attached signature that verified, with --verify-key.
	Signature string `json:"signature,omitempty"`
}

func (o *modelPullOptions) Run(ctx context.Context) error {
	uri, want := o.target, ""
	if !strings.HasPrefix(uri, oci.Scheme) {
		v, err := o.version()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(v.Artifact.URI, oci.Scheme) {
			return usagef("%s: artifact.uri %s is not in an OCI registry; push it first: marina model push %s@%s --to HOST/REPO",
				model.File(v.Name, v.Version), v.Artifact.URI, v.Name, v.Version)
		}
		uri, want = v.Artifact.URI, v.Artifact.Digest
	}
	ref, err := oci.ParseURI(uri)
	if err != nil {
		return failedf("%v", err)
	}
	var signature string
	if len(o.verifyKeys) > 0 {
		// The signature is checked first and names the digest the pull must bring: a file that is not the signed
		// one is never kept under the model's name.
		keys, err := loadPublicKeys("--verify-key", o.verifyKeys)
		if err != nil {
			return err
		}
		sig, signed, err := o.signedModel(ctx, ref, keys, want)
		if err != nil {
			return err
		}
		want, signature = signed, sig.Referrer.String()
	}
	p, err := o.pull(ctx, ref, o.dir, want)
	if err != nil {
		return err
	}
	return o.result(pullResult{Artifact: ref.URI(), File: p.File, Digest: p.Digest, Cached: p.Cached, Signature: signature}, func(w io.Writer) {
		if p.Cached {
			fmt.Fprintf(w, "%s already has digest %s: nothing downloaded\n", p.File, p.Digest)
		} else {
			fmt.Fprintf(w, "pulled %s\n  file   %s\n  digest %s\n", ref.URI(), p.File, p.Digest)
		}
		if signature != "" {
			fmt.Fprintf(w, "  signature %s verified\n", signature)
		}
	})
}

// version reads NAME@VERSION from the repository.
func (o *modelPullOptions) version() (*model.Version, error) {
	r, err := o.openRepo()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	name, version, _ := strings.Cut(o.target, "@")
	return (&registry.Registry{Repo: r}).Get(name, version)
}

func newModelPullCommand(g *globalOptions) *cobra.Command {
	o := &modelPullOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "pull (NAME@VERSION | oci://HOST/REPO@sha256:…) [--dir DIR] [--verify-key PUB]",
		Short: "Fetch a version's model file from its OCI artifact, digest-checked",
		Long: `pull fetches the model file of an artifact marina model push made into DIR/<file>
(artifact.file): NAME@VERSION reads artifact.uri from the repository, an
oci://HOST/REPO@sha256:… reference needs no repository (the init container of a
rendered Pod runs it). The file is written to a temporary file beside it and
renamed only once the layer's digest and the model file's digest
(artifact.digest) check out: a failed pull leaves no file under the model's
name. A file already in DIR with that digest is kept, nothing downloaded.

With --verify-key the artifact must carry a signature, attached as an OCI referrer
(marina model sign on a pushed version, or marina model push of a signed one),
that verifies with one of the keys; the model file must then have the digest it
signs, checked before the file is renamed into place. No signature, another key,
an altered signature, or a file other than the signed one: exit 1 with the reason,
and no file.

A wrong digest or something that is not a model artifact exits 1; a missing
artifact, refused credentials or an unreachable registry exit 2. Credentials
come from the Docker configuration, as for marina model push.`,
		Example: `  marina model pull fraud-detector@1.0.0 --dir /tmp/models
  # DIGEST is the manifest digest marina model push recorded, sha256:…
  marina model pull "oci://registry.example.com/models/fraud-detector@$DIGEST" --dir /models
  # only a file signed by the key, as a rendered Pod's init container runs it
  marina model pull "oci://registry.example.com/models/fraud-detector@$DIGEST" --dir /models --verify-key /etc/marina/keys/0.pub`,
		Args: exactArgs(1, "NAME@VERSION or oci://HOST/REPO@sha256:…"),
		RunE: runE(o, func(args []string) { o.target = args[0] }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
