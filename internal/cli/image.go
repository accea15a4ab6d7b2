package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/signing"
)

func newImageCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Sign and verify container images (any OCI manifest) by digest, as cosign does",
	}
	cmd.AddCommand(newImageSignCommand(g), newImageVerifyCommand(g))
	return cmd
}

// imageRef reads the image argument, HOST/REPO@sha256:…: a tag is refused, it moves after signing.
func imageRef(s string) (oci.Reference, error) {
	if !strings.Contains(s, "@") {
		return oci.Reference{}, usagef("%q: name the image by digest, HOST/REPO@sha256:… (a tag moves; make image and crane digest print the digest)", s)
	}
	ref, err := oci.ParseURI(s)
	if err != nil {
		return oci.Reference{}, usagef("%v", err)
	}
	return ref, nil
}

// imageResult is what image sign and image verify print with -o json|yaml.
type imageResult struct {
	Image     string `json:"image"`
	Signature string `json:"signature"`
}

type imageSignOptions struct {
	*globalOptions
	registryFlags
	target, key string
	ref         oci.Reference
}

func (o *imageSignOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.key, "key", "", "PEM private key, ECDSA or Ed25519 (openssl genpkey, or cosign.key with $COSIGN_PASSWORD) (required)")
	o.registryFlags.AddFlags(fs)
}

func (o *imageSignOptions) Validate() error {
	var err error
	if o.ref, err = imageRef(o.target); err != nil {
		return err
	}
	if o.key == "" {
		return usagef("--key is required: a PEM private key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out marina.key)")
	}
	return nil
}

func (o *imageSignOptions) Run(ctx context.Context) error {
	key, err := signing.LoadPrivateKey(o.key, signing.EnvPassword)
	if err != nil {
		return usagef("--key %v", err)
	}
	bundle, err := signing.SignImage(ctx, key, o.ref.Digest)
	if err != nil {
		return err
	}
	sig, err := oci.Attach(ctx, o.options(), o.ref, bundle, signing.ImagePredicateType)
	if err != nil {
		return registryError(err)
	}
	return o.result(imageResult{Image: o.ref.String(), Signature: sig.String()}, func(w io.Writer) {
		fmt.Fprintf(w, "signed %s\n  signature %s\n", o.ref, sig)
	})
}

func newImageSignCommand(g *globalOptions) *cobra.Command {
	o := &imageSignOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "sign HOST/REPO@sha256:… --key KEY",
		Short: "Sign an image by digest with a key and attach the signature to it in the registry",
		Long: `sign signs an image, or any OCI manifest, named by digest with a private key,
offline (no Fulcio certificate, no Rekor entry), and attaches the signature to it
in its registry as an OCI referrer, as cosign v3 does: a Sigstore bundle v0.3
(DSSE, an in-toto statement of predicate type https://sigstore.dev/cosign/sign/v1
over the digest) in a manifest of artifactType
application/vnd.dev.sigstore.bundle.v0.3+json whose subject is the image.
Registries without the referrers API get the referrers tag schema.

marina image verify checks it, and so does cosign:
  cosign verify --key marina.pub --insecure-ignore-tlog=true HOST/REPO@sha256:…

A tag is refused: it can move after signing. Keys are PEM files, ECDSA or Ed25519,
as for marina model sign. Credentials come from the Docker configuration;
--plain-http and --ca-file as for marina model push. Signing again adds a
signature.`,
		Example: `  marina image sign "registry.example.com/marina-serve@$DIGEST" --key marina.key
  # a registry on loopback without TLS, the digest make image printed
  marina image sign "127.0.0.1:5000/marina/marina-serve@$DIGEST" --key marina.key --plain-http`,
		Args: exactArgs(1, "HOST/REPO@sha256:…"),
		RunE: runE(o, func(args []string) { o.target = args[0] }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

type imageVerifyOptions struct {
	*globalOptions
	registryFlags
	target string
	keys   []string
	ref    oci.Reference
}

func (o *imageVerifyOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.keys, "key", nil, "PEM public key the signature must verify with (repeatable: one of them suffices) (required)")
	o.registryFlags.AddFlags(fs)
}

func (o *imageVerifyOptions) Validate() error {
	var err error
	if o.ref, err = imageRef(o.target); err != nil {
		return err
	}
	if len(o.keys) == 0 {
		return usagef("--key is required: the signer's PEM public key (openssl pkey -in marina.key -pubout -out marina.pub)")
	}
	return nil
}

func (o *imageVerifyOptions) Run(ctx context.Context) error {
	keys, err := loadPublicKeys("--key", o.keys)
	if err != nil {
		return err
	}
	sigs, err := oci.Signatures(ctx, o.options(), o.ref)
	if err != nil {
		return registryError(err)
	}
	s, err := firstVerified(o.ref.String(), keys, sigs, func(bundle []byte) error { return signing.VerifyImage(bundle, o.ref.Digest, keys) },
		"sign it with marina image sign "+o.ref.String()+" --key KEY")
	if err != nil {
		return err
	}
	return o.result(imageResult{Image: o.ref.String(), Signature: s.Referrer.String()}, func(w io.Writer) {
		fmt.Fprintf(w, "verified %s\n  signature %s\n", o.ref, s.Referrer)
	})
}

// loadPublicKeys reads the PEM public keys files name; flag names them in errors.
func loadPublicKeys(flag string, files []string) ([]signing.PublicKey, error) {
	var keys []signing.PublicKey
	for _, f := range files {
		k, err := signing.LoadPublicKey(f)
		if err != nil {
			return nil, usagef("%s %v", flag, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func newImageVerifyCommand(g *globalOptions) *cobra.Command {
	o := &imageVerifyOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "verify HOST/REPO@sha256:… --key PUB",
		Short: "Verify that an image carries a signature by a key, found as an OCI referrer",
		Long: `verify finds the signatures attached to an image (or any OCI manifest) named by
digest, as OCI referrers of artifactType application/vnd.dev.sigstore.bundle.v0.3+json
(marina image sign, or cosign sign --key in its bundle format), and checks that
one of them is a signature of that digest by one of the --key public keys.

No signature, only signatures by other keys, or only signatures of another digest:
exit 1, each signature's reason listed. A missing image, refused credentials or an
unreachable registry: exit 2.`,
		Example: `  marina image verify "registry.example.com/marina-serve@$DIGEST" --key marina.pub`,
		Args:    exactArgs(1, "HOST/REPO@sha256:…"),
		RunE:    runE(o, func(args []string) { o.target = args[0] }),
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
