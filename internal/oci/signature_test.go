package oci_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/testenv"
)

func TestAnAttachedSignatureIsAReferrerCosignFinds(t *testing.T) {
	t.Parallel()
	onEachRegistry(t, func(t *testing.T, r *testenv.Registry, o oci.Options) {
		ref, err := oci.Push(t.Context(), o, artifact(t, 1024), repository(t, r))
		if err != nil {
			t.Fatal(err)
		}
		none, err := oci.Signatures(t.Context(), o, ref)
		if err != nil || len(none) != 0 {
			t.Fatalf("before signing: %v, %v", none, err)
		}
		var refs []oci.Reference
		for _, b := range []string{`{"bundle":1}`, `{"bundle":2}`} {
			sig, err := oci.Attach(t.Context(), o, ref, []byte(b), "https://example.com/predicate")
			if err != nil {
				t.Fatal(err)
			}
			refs = append(refs, sig)
		}
		sigs, err := oci.Signatures(t.Context(), o, ref)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range sigs {
			got[s.Referrer.String()] = string(s.Bundle)
		}
		if len(got) != 2 || got[refs[0].String()] != `{"bundle":1}` || got[refs[1].String()] != `{"bundle":2}` {
			t.Fatalf("signatures %v, want the two attached as %v", got, refs)
		}

		// The layout cosign v3 writes and reads (pkg/oci/remote/write.go, WriteReferrer).
		var m ocispec.Manifest
		if err := json.Unmarshal(registryGet(t, r, "manifests/"+refs[0].Digest, ocispec.MediaTypeImageManifest), &m); err != nil {
			t.Fatal(err)
		}
		if m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != oci.SignatureArtifactType ||
			m.Config.MediaType != ocispec.MediaTypeEmptyJSON || len(m.Layers) != 1 || m.Layers[0].MediaType != oci.SignatureArtifactType ||
			m.Subject == nil || m.Subject.Digest.String() != ref.Digest || m.Subject.MediaType != ocispec.MediaTypeImageManifest ||
			m.Annotations[oci.AnnotationBundleContent] != "dsse-envelope" || m.Annotations[oci.AnnotationBundlePredicateType] != "https://example.com/predicate" ||
			m.Annotations[ocispec.AnnotationCreated] == "" {
			t.Fatalf("referrer manifest %+v", m)
		}
		// distribution v3.1 has no referrers API: the referrers tag schema's index lists them, where cosign
		// (go-containerregistry's remote.Referrers) looks when the API answers 404.
		var index ocispec.Index
		if err := json.Unmarshal(registryGet(t, r, "manifests/"+strings.Replace(ref.Digest, ":", "-", 1), ocispec.MediaTypeImageIndex), &index); err != nil {
			t.Fatal(err)
		}
		if len(index.Manifests) != 2 || index.Manifests[0].ArtifactType != oci.SignatureArtifactType {
			t.Fatalf("the referrers tag schema's index lists %+v", index.Manifests)
		}
	})
}

func TestSignaturesOfWhatIsNotThereFailClearly(t *testing.T) {
	t.Parallel()
	r := testenv.StartRegistry(t, testenv.RegistryOptions{BasicAuth: true})
	ref, err := oci.Push(t.Context(), options(t, r), artifact(t, 1024), repository(t, r))
	if err != nil {
		t.Fatal(err)
	}
	missing := ref
	missing.Digest = digest.FromString("no such manifest").String()
	wrong := options(t, r)
	wrong.DockerConfig = dockerConfig(t, r.Host, r.Username, "wrong")
	for _, tc := range []struct {
		name string
		run  func() error
		err  error
		says string
	}{
		{"attaching to a missing manifest", func() error {
			_, err := oci.Attach(t.Context(), options(t, r), missing, []byte("{}"), "p")
			return err
		}, oci.ErrNotFound, missing.String()},
		{"reading the signatures of a missing manifest", func() error { _, err := oci.Signatures(t.Context(), options(t, r), missing); return err }, oci.ErrNotFound, missing.String()},
		{"attaching with a wrong password", func() error { _, err := oci.Attach(t.Context(), wrong, ref, []byte("{}"), "p"); return err }, oci.ErrUnauthorized, "docker login " + r.Host},
		{"reading with a wrong password", func() error { _, err := oci.Signatures(t.Context(), wrong, ref); return err }, oci.ErrUnauthorized, "docker login " + r.Host},
		{"a tag instead of a digest", func() error {
			tagged := ref
			tagged.Digest = ""
			_, err := oci.Attach(t.Context(), options(t, r), tagged, []byte("{}"), "p")
			return err
		}, nil, "pin the manifest by digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, want %v saying %q", err, tc.err, tc.says)
			}
		})
	}
}

// registryGet reads path under the test repository's /v2/models/fraud/ as a runtime would, with the registry's
// credentials, accepting the media types accept.
func registryGet(t *testing.T, r *testenv.Registry, path, accept string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, r.URL()+"/v2/models/fraud/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	if r.Username != "" {
		req.SetBasicAuth(r.Username, r.Password)
	}
	resp, err := r.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, resp.Status, body)
	}
	return body
}
