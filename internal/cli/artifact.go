package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/pflag"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/signing"
)

// registryFlags are how model push, pull and serve reach an OCI registry, named as oras and crane name them.
// Credentials come from the Docker configuration ($DOCKER_CONFIG/config.json or ~/.docker/config.json).
type registryFlags struct {
	plainHTTP bool
	caFile    string
}

func (o *registryFlags) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.plainHTTP, "plain-http", false, "talk HTTP, not HTTPS, to the registry (a registry on loopback without TLS)")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM file of the CA that issued the registry's certificate (a private registry), trusted besides the system's")
}

func (o *registryFlags) options() oci.Options {
	return oci.Options{PlainHTTP: o.plainHTTP, CAFile: o.caFile}
}

// registryError gives an error of package oci its exit code: content that is not what it claims is the checked
// thing being wrong (1); anything else (credentials, network, a missing artifact) is the environment (2).
func registryError(err error) error {
	if errors.Is(err, oci.ErrDigestMismatch) || errors.Is(err, oci.ErrBadArtifact) {
		return failed(err)
	}
	return usagef("%v", err)
}

// pull fetches the model file of the artifact ref into dir; want, when set, is the digest the file must have.
func (o *registryFlags) pull(ctx context.Context, ref oci.Reference, dir, want string) (*oci.Pulled, error) {
	p, err := oci.Pull(ctx, o.options(), ref, dir, want)
	if err != nil {
		return nil, registryError(err)
	}
	return p, nil
}

// defaultModelDir is where serve fetches remote models: /models when it is a writable directory (the volume
// rendered Pods mount there), else the user's cache, ${MARINA_CACHE:-~/.cache/marina}/artifacts.
func defaultModelDir() string {
	if f, err := os.CreateTemp("/models", ".marina-probe-*"); err == nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return "/models"
	}
	return filepath.Join(inference.CacheDir(), "artifacts")
}

// maxDownload caps an https:// model download (64 GiB): a server that streams forever is cut off.
const maxDownload = 64 << 30

// download fetches an https:// model (trusting --ca-file too) into dir/<last path element> unless dir holds it with digest want already:
// into a temporary file, renamed once its digest is want, so dir never holds a partial or wrong file under that
// name. It returns the file's path.
func (o *registryFlags) download(ctx context.Context, rawURL, dir, want string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", usagef("--model %s: want an https:// URL", rawURL)
	}
	name := path.Base(u.Path)
	if err := oci.CheckFileName(name); err != nil {
		return "", usagef("--model %s: the URL's path must end in the model file's name: %v", rawURL, err)
	}
	file := filepath.Join(dir, name)
	if oci.Holds(file, want) {
		return file, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", usagef("--model-dir: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", usagef("--model %s: %v", rawURL, err)
	}
	transport, err := o.options().Transport()
	if err != nil {
		return "", usagef("%v", err)
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return "", usagef("downloading %s: %v", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", usagef("downloading %s: %s", u.Redacted(), resp.Status)
	}
	tmp, err := os.CreateTemp(dir, "."+name+".partial-*")
	if err != nil {
		return "", usagef("--model-dir: %v", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // gone after the rename; removes what a failure left
	hash := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, hash), io.LimitReader(resp.Body, maxDownload))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", usagef("downloading %s: %v", u.Redacted(), err)
	}
	if got := digest.NewDigest(digest.SHA256, hash).String(); got != want {
		return "", failedf("%s has digest %s, but --digest says %s: refusing to serve a different artifact", u.Redacted(), got, want)
	}
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return "", usagef("%v", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return "", usagef("%v", err)
	}
	return file, nil
}

// publisher pushes a version's file to the repository to as an OCI artifact (model/<file> and model/marina.json,
// the version's metadata with artifact.uri naming the file beside it), for register --push and model push.
func (o *registryFlags) publisher(ctx context.Context, to oci.Reference) func(v *model.Version, file string) (string, string, error) {
	return func(v *model.Version, file string) (string, string, error) {
		name := filepath.Base(file)
		if err := oci.CheckFileName(name); err != nil {
			return "", "", usagef("%s: %v", file, err)
		}
		inside := *v
		inside.Artifact.URI, inside.Artifact.File = path.Join(oci.Dir, name), name
		metadata, err := inside.Marshal()
		if err != nil {
			return "", "", err
		}
		ref, err := oci.Push(ctx, o.options(), oci.Artifact{File: file, Name: name, Digest: v.Artifact.Digest, Metadata: metadata,
			Model: v.Name, Version: v.Version, Created: v.Created}, to)
		if err != nil {
			return "", "", registryError(fmt.Errorf("%s@%s: %w", v.Name, v.Version, err))
		}
		return ref.URI(), name, nil
	}
}

// firstVerified returns the first of sigs, the signatures attached to what, that verify accepts. No signature, or
// none accepted, is exit 1 with each signature's reason; hint says how to attach one.
func firstVerified(what string, keys []signing.PublicKey, sigs []oci.Signature, verify func(bundle []byte) error, hint string) (oci.Signature, error) {
	if len(sigs) == 0 {
		return oci.Signature{}, failedf("%s has no signature attached: %s", what, hint)
	}
	var problems []string
	for _, s := range sigs {
		err := verify(s.Bundle)
		if err == nil {
			return s, nil
		}
		problems = append(problems, fmt.Sprintf("signature %s: %v", s.Referrer.Digest, err))
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.File
	}
	return oci.Signature{}, failedf("%s: no signature verifies with %s:\n  %s", what, strings.Join(names, ", "), strings.Join(problems, "\n  "))
}

// signedModel finds the model signatures attached to the artifact ref and returns the one that verifies with keys
// and the model file digest it signs: what the pull must then bring, before the file is kept. When want (the
// registered digest) is set, the signed digest must be it.
func (o *registryFlags) signedModel(ctx context.Context, ref oci.Reference, keys []signing.PublicKey, want string) (oci.Signature, string, error) {
	sigs, err := oci.Signatures(ctx, o.options(), ref)
	if err != nil {
		return oci.Signature{}, "", registryError(err)
	}
	var signed string
	s, err := firstVerified(ref.URI(), keys, sigs, func(bundle []byte) error {
		m, err := signing.VerifyModel(bundle, keys)
		if err != nil {
			return err
		}
		if len(m.Resources) != 1 {
			return fmt.Errorf("the signature lists %d files, marina serves one", len(m.Resources))
		}
		signed = "sha256:" + m.Resources[0].Digest
		return nil
	}, "sign the version with marina model sign NAME@VERSION --key KEY, which attaches its signature to the artifact")
	if err != nil {
		return s, "", err
	}
	if want != "" && want != signed {
		return s, "", failedf("%s: the signature %s signs a model file with digest %s, but %s was expected: refusing it", ref.URI(), s.Referrer.Digest, signed, want)
	}
	return s, signed, nil
}

// attachSignature attaches a model signature to the artifact at uri (oci://…@sha256:…) unless the same bundle is
// attached already, and returns the signature's reference.
func (o *registryFlags) attachSignature(ctx context.Context, uri string, bundle []byte) (string, error) {
	ref, err := oci.ParseURI(uri)
	if err != nil {
		return "", failedf("%v", err)
	}
	sigs, err := oci.Signatures(ctx, o.options(), ref)
	if err != nil {
		return "", registryError(err)
	}
	for _, s := range sigs {
		if bytes.Equal(s.Bundle, bundle) {
			return s.Referrer.String(), nil
		}
	}
	sig, err := oci.Attach(ctx, o.options(), ref, bundle, signing.ModelPredicateType)
	if err != nil {
		return "", registryError(err)
	}
	return sig.String(), nil
}
