package testenv_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/marina-dev/marina/internal/testenv"
)

// repository is the test repository "marina/check" on r, with the given credentials.
func repository(t *testing.T, r *testenv.Registry, username, password string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(r.Host + "/marina/check")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = r.CAFile == ""
	client := &auth.Client{Client: r.Client(t)}
	if username != "" {
		client.Credential = auth.StaticCredential(r.Host, auth.Credential{Username: username, Password: password})
	}
	repo.Client = client
	return repo
}

// pushAndPull pushes a one-layer manifest to repo, copies it back by digest into memory and compares the layer.
func pushAndPull(ctx context.Context, repo *remote.Repository) error {
	src := memory.New()
	layer := []byte("model bytes")
	layerDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, layer)
	if err := src.Push(ctx, layerDesc, bytes.NewReader(layer)); err != nil {
		return err
	}
	manifest, err := oras.PackManifest(ctx, src, oras.PackManifestVersion1_1, "application/vnd.marina.test",
		oras.PackManifestOptions{Layers: []ocispec.Descriptor{layerDesc}})
	if err != nil {
		return err
	}
	if err := src.Tag(ctx, manifest, "v1"); err != nil {
		return err
	}
	if _, err := oras.Copy(ctx, src, "v1", repo, "v1", oras.DefaultCopyOptions); err != nil {
		return err
	}
	dst := memory.New()
	if _, err := oras.Copy(ctx, repo, manifest.Digest.String(), dst, "v1", oras.DefaultCopyOptions); err != nil {
		return err
	}
	got, err := content.FetchAll(ctx, dst, layerDesc)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, layer) {
		return errors.New("the pulled layer differs from the pushed one")
	}
	return nil
}

func TestRegistryStoresWhatIsPushedBehindBasicAuthAndTLS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    testenv.RegistryOptions
	}{
		{name: "plain HTTP, anonymous", o: testenv.RegistryOptions{}},
		{name: "basic auth with bcrypt htpasswd", o: testenv.RegistryOptions{BasicAuth: true}},
		{name: "TLS from a CA made in the test", o: testenv.RegistryOptions{TLS: true}},
		{name: "TLS and basic auth", o: testenv.RegistryOptions{TLS: true, BasicAuth: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := testenv.StartRegistry(t, tc.o)
			if err := pushAndPull(t.Context(), repository(t, r, r.Username, r.Password)); err != nil {
				t.Fatalf("push and pull through %s: %v", r.Host, err)
			}
		})
	}
}

func TestRegistryRefusesWrongCredentialsAndUntrustedCertificates(t *testing.T) {
	t.Parallel()
	r := testenv.StartRegistry(t, testenv.RegistryOptions{BasicAuth: true, TLS: true})
	t.Run("anonymous", func(t *testing.T) {
		t.Parallel()
		// The registry's 401 challenge asks for basic credentials the client does not have.
		if err := pushAndPull(t.Context(), repository(t, r, "", "")); !errors.Is(err, auth.ErrBasicCredentialNotFound) {
			t.Fatalf("want a basic-auth challenge, got %v", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		err := pushAndPull(t.Context(), repository(t, r, r.Username, r.Password+"x"))
		var resp *errcode.ErrorResponse
		if !errors.As(err, &resp) || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("want 401 Unauthorized, got %v", err)
		}
	})
	t.Run("a client without the test CA", func(t *testing.T) {
		t.Parallel()
		repo := repository(t, r, r.Username, r.Password)
		repo.Client = &auth.Client{Client: http.DefaultClient,
			Credential: auth.StaticCredential(r.Host, auth.Credential{Username: r.Username, Password: r.Password})}
		if err := pushAndPull(t.Context(), repo); err == nil {
			t.Fatal("a client that does not trust the test CA pushed")
		}
	})
}
