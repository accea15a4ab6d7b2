package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo"
	"github.com/marina-dev/marina/internal/signing"
)

type modelSignOptions struct {
	*globalOptions
	branchOptions
	registryFlags
	target, name, version string
	key, file             string
	cleanup               func() // removes the artifact pulled to be signed
}

func (o *modelSignOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.key, "key", "", "PEM private key, ECDSA or Ed25519 (openssl genpkey, or cosign generate-key-pair's cosign.key with $COSIGN_PASSWORD) (required)")
	fs.StringVar(&o.file, "file", "", "the artifact file to sign, when artifact.uri is remote and not oci:// (it must have the registered digest); an oci:// artifact is pulled")
	o.addPushFlags(fs)
	o.registryFlags.AddFlags(fs)
}

func (o *modelSignOptions) Validate() error {
	var err error
	if o.name, o.version, err = versionArg(o.target); err != nil {
		return err
	}
	if o.key == "" {
		return usagef("--key is required: a PEM private key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out marina.key)")
	}
	return nil
}

// signResult is what -o json|yaml prints.
type signResult struct {
	Version   *model.Version `json:"version"`
	Signature string         `json:"signature"`
	// Attached is the signature's reference in the registry, attached to the version's OCI artifact.
	Attached string `json:"attached,omitempty"`
	Commit   string `json:"commit"`
}

func (o *modelSignOptions) Run(ctx context.Context) error {
	key, err := signing.LoadPrivateKey(o.key, signing.EnvPassword)
	if err != nil {
		return usagef("--key %v", err)
	}
	defer func() {
		if o.cleanup != nil {
			o.cleanup()
		}
	}()
	var res signResult
	_, err = o.commit(o.globalOptions, func(r *repo.Repo) (string, error) {
		v, err := (&registry.Registry{Repo: r}).Get(o.name, o.version)
		if err != nil {
			return "", err
		}
		file, err := o.artifactFile(ctx, r, v)
		if err != nil {
			return "", err
		}
		res, err = o.sign(ctx, r, v, key, file)
		return res.Commit, err
	})
	if err != nil {
		return err
	}
	return o.result(res, func(w io.Writer) {
		fmt.Fprintf(w, "signed %s@%s (%s)\n  signature %s\n  file      %s\n", o.name, o.version, res.Version.Artifact.Digest, res.Signature, model.File(o.name, o.version))
		if res.Attached != "" {
			fmt.Fprintf(w, "  attached  %s\n", res.Attached)
		}
		fmt.Fprintf(w, "  commit    %s\n", res.Commit[:12])
	})
}

// artifactFile is the file to sign: --file, else the artifact in the repository, else the version's OCI artifact
// pulled (digest-checked) into a temporary directory.
func (o *modelSignOptions) artifactFile(ctx context.Context, r *repo.Repo, v *model.Version) (string, error) {
	meta := model.File(v.Name, v.Version)
	if o.file != "" {
		return o.file, nil
	}
	loc, err := v.Artifact.Locate()
	if err != nil {
		return "", failedf("%s: %v", meta, err)
	}
	if ref, err := oci.ParseURI(loc.Remote); err == nil {
		if o.cleanup != nil { // a retried operation pulls again
			o.cleanup()
		}
		dir, err := os.MkdirTemp("", "marina-sign-")
		if err != nil {
			return "", usagef("%v", err)
		}
		o.cleanup = func() { _ = os.RemoveAll(dir) }
		p, err := o.pull(ctx, ref, dir, v.Artifact.Digest)
		if err != nil {
			return "", err
		}
		return p.File, nil
	}
	if loc.Remote != "" {
		return "", usagef("%s: artifact.uri %s is remote: pass the artifact file with --file (it must have digest %s)", meta, loc.Remote, v.Artifact.Digest)
	}
	file, err := r.CheckRegularFile(loc.Path)
	if err != nil {
		return "", failedf("%s: artifact.uri: %w", meta, err)
	}
	return file, nil
}

// sign hashes file, checks it is the registered artifact, signs it and commits the signature.
func (o *modelSignOptions) sign(ctx context.Context, r *repo.Repo, v *model.Version, key *signing.PrivateKey, file string) (signResult, error) {
	res, err := signing.FileResource(filepath.Base(file), file)
	if err != nil {
		return signResult{}, usagef("%v", err)
	}
	if "sha256:"+res.Digest != v.Artifact.Digest {
		return signResult{}, failedf("%s has digest sha256:%s, but %s records %s: refusing to sign a different artifact", file, res.Digest, model.File(v.Name, v.Version), v.Artifact.Digest)
	}
	bundle, err := signing.SignModel(ctx, key, signing.Manifest{Model: v.Name, Resources: []signing.Resource{res}})
	if err != nil {
		return signResult{}, err
	}
	// Attached before the commit: a registry that refuses it leaves nothing committed, and signing again is safe.
	var attached string
	if strings.HasPrefix(v.Artifact.URI, oci.Scheme) {
		if attached, err = o.attachSignature(ctx, v.Artifact.URI, bundle); err != nil {
			return signResult{}, err
		}
	}
	commit, err := (&registry.Registry{Repo: r}).RecordSignature(v, bundle, "sha256:"+string(key.GetHint()))
	if err != nil {
		return signResult{}, err
	}
	return signResult{Version: v, Signature: v.Signing.Bundle, Attached: attached, Commit: commit}, nil
}

func newModelSignCommand(g *globalOptions) *cobra.Command {
	o := &modelSignOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "sign NAME@VERSION --key KEY [--file FILE]",
		Short: "Sign a version's artifact with a key and record the signature in one commit",
		Long: `sign signs the artifact of a registered version with a private key, offline (no
Fulcio certificate, no Rekor entry), and commits the signature with the version:
models/NAME/signatures/vVERSION.sigstore.json, named in the version's signing.bundle.

The signature is a Sigstore bundle in the OpenSSF model-signing format (v1.0): a
DSSE envelope around an in-toto statement with predicate type
https://model_signing/signature/v1.0 that lists the model file and its sha256.
The file must have the digest the version records, or sign exits 1.

Keys are PEM files, ECDSA (P-256, P-384, P-521) or Ed25519: what openssl genpkey
writes, or cosign generate-key-pair's cosign.key (encrypted: the password comes
from $COSIGN_PASSWORD, as for cosign). marina serve --verify-key and marina
validate (spec.signing.publicKeys in marina.yaml) check the signature with the
public key. Signing again replaces the signature.

A version whose artifact.uri is an OCI artifact (marina model push) is pulled,
digest-checked, to be signed (or --file), and also gets the signature attached to the artifact in its registry, as an OCI referrer (artifactType
application/vnd.dev.sigstore.bundle.v0.3+json, the layout cosign v3 uses), before
the commit: marina model pull --verify-key and marina serve --verify-key find it
there, as the init container of a rendered Pod does. marina model push attaches
the signature of a version signed before it was pushed. --plain-http and --ca-file
as for marina model push.`,
		Example: `  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out marina.key
  openssl pkey -in marina.key -pubout -out marina.pub
  marina model sign fraud-detector@1.0.0 --key marina.key

  # An artifact kept in a registry: sign the file that was pushed
  marina model sign fraud-detector@1.2.0 --key marina.key --file fraud-detector.onnx --push`,
		Args: exactArgs(1, "NAME@VERSION"),
		RunE: runE(o, func(args []string) { o.target = args[0] }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
