package oci_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/marina-dev/marina/internal/oci"
	"github.com/marina-dev/marina/internal/testenv"
)

// tamper overwrites the first bytes of every blob of size bytes in the registry's storage, as a corrupted disk or
// a malicious mirror would.
func tamper(t *testing.T, r *testenv.Registry, size int64) {
	t.Helper()
	n := 0
	err := filepath.Walk(r.Storage, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.Name() != "data" || fi.Size() != size {
			return err
		}
		n++
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteAt([]byte("tampered"), 2048)
		return err
	})
	if err != nil || n != 1 {
		t.Fatalf("tampering with the layer: %d blobs of %d bytes, %v", n, size, err)
	}
}

func TestPullFailsClearlyAndLeavesNoFile(t *testing.T) {
	t.Parallel()
	open := testenv.StartRegistry(t, testenv.RegistryOptions{})
	secured := testenv.StartRegistry(t, testenv.RegistryOptions{TLS: true, BasicAuth: true})
	down := testenv.StartRegistry(t, testenv.RegistryOptions{})
	corrupt := testenv.StartRegistry(t, testenv.RegistryOptions{})
	a := artifact(t, 1<<20)
	push := func(r *testenv.Registry) oci.Reference {
		ref, err := oci.Push(t.Context(), options(t, r), a, repository(t, r))
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	openRef, securedRef, downRef, corruptRef := push(open), push(secured), push(down), push(corrupt)
	down.Stop()
	tamper(t, corrupt, 1<<20+3072) // the layer: tar headers and padding around the model file and marina.json
	missing := openRef
	missing.Digest = digest.FromString("no such manifest").String()
	wrongPassword := options(t, secured)
	wrongPassword.DockerConfig = dockerConfig(t, secured.Host, secured.Username, secured.Password+"x")
	noCA := options(t, secured)
	noCA.CAFile = ""
	anonymous := options(t, secured)
	anonymous.DockerConfig = filepath.Join(t.TempDir(), "config.json") // none: anonymous

	for _, tc := range []struct {
		name string
		o    oci.Options
		ref  oci.Reference
		want string // the model file's expected digest
		err  error
		says []string
	}{
		{name: "the model file is not the expected one", o: options(t, open), ref: openRef, want: digest.FromString("other").String(),
			err: oci.ErrDigestMismatch, says: []string{a.Digest, digest.FromString("other").String()}},
		{name: "no such artifact", o: options(t, open), ref: missing, err: oci.ErrNotFound, says: []string{missing.String(), "marina model push"}},
		{name: "wrong password", o: wrongPassword, ref: securedRef, err: oci.ErrUnauthorized, says: []string{"docker login " + secured.Host}},
		{name: "no credentials", o: anonymous, ref: securedRef, err: oci.ErrUnauthorized, says: []string{"has none for it", "docker login"}},
		{name: "the registry's CA is not given", o: noCA, ref: securedRef, err: oci.ErrUnreachable, says: []string{"--ca-file"}},
		{name: "TLS against a plain HTTP registry", o: oci.Options{}, ref: openRef, err: oci.ErrUnreachable, says: []string{"--plain-http"}},
		{name: "the registry is down", o: options(t, down), ref: downRef, err: oci.ErrUnreachable, says: []string{down.Host, "connection refused"}},
		{name: "the layer was tampered with in the registry", o: options(t, corrupt), ref: corruptRef, err: oci.ErrDigestMismatch, says: []string{"layer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "models")
			p, err := oci.Pull(t.Context(), tc.o, tc.ref, dir, tc.want)
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %+v, %v; want %v", p, err, tc.err)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("the error does not say %q: %v", s, err)
				}
			}
			if names := entries(t, dir); len(names) != 0 {
				t.Fatalf("the failed pull left %v in the model directory", names)
			}
		})
	}
}

func TestPushRefusesAFileThatIsNotTheRegisteredOne(t *testing.T) {
	t.Parallel()
	r := testenv.StartRegistry(t, testenv.RegistryOptions{})
	a := artifact(t, 1024)
	registered := a.Digest
	a.Digest = digest.FromString("registered").String()
	_, err := oci.Push(t.Context(), options(t, r), a, repository(t, r))
	if err == nil || !strings.Contains(err.Error(), registered) || !strings.Contains(err.Error(), a.Digest) {
		t.Fatalf("want an error naming both digests, got %v", err)
	}
}
