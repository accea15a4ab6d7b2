package registry_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/registry"
	"github.com/marina-dev/marina/internal/repo/repotest"
)

const pushedURI = "oci://127.0.0.1:5000/models/fraud@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestRegisterWithAPublisherRecordsWhereTheArtifactWentInTheRegisterCommitOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		publish registry.Publisher
		uri     string
		err     string
	}{
		{name: "the pushed artifact becomes artifact.uri and artifact.file",
			publish: func(v *model.Version, file string) (string, string, error) {
				return pushedURI, filepath.Base(file), nil
			}},
		{name: "a failed push commits nothing",
			publish: func(*model.Version, string) (string, string, error) { return "", "", errors.New("registry down") }, err: "registry down"},
		{name: "--uri with a push is refused before pushing", uri: "s3://bucket/model.bin", err: "leave --uri out",
			publish: func(*model.Version, string) (string, string, error) { t.Error("pushed"); return "", "", nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, reg := newRegistry(t)
			before := repotest.Git(t, dir, "rev-parse", "HEAD")
			f := artifact(t, t.TempDir(), "weights") // outside the repository: fine when pushed
			res, err := reg.Register(registry.Registration{Name: "fraud", Version: "1.0.0", File: f, URI: tc.uri, Publish: tc.publish})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error saying %q", err, tc.err)
				}
				if after := repotest.Git(t, dir, "rev-parse", "HEAD"); after != before {
					t.Fatal("a refused registration committed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			committed, err := model.Parse("models/fraud/v1.0.0.json", []byte(repotest.Git(t, dir, "show", "HEAD:models/fraud/v1.0.0.json")))
			if err != nil {
				t.Fatal(err)
			}
			if a := committed.Artifact; a.URI != pushedURI || a.File != "model.bin" || a.Digest != res.Version.Artifact.Digest {
				t.Fatalf("committed artifact %+v", a)
			}
			if n := repotest.Git(t, dir, "rev-list", "--count", before+"..HEAD"); n != "1" {
				t.Fatalf("%s commits, want the register commit alone", n)
			}
			if _, err := reg.Register(registry.Registration{Name: "fraud", Version: "1.0.0", File: f, Publish: tc.publish}); !errors.Is(err, registry.ErrConflict) ||
				!strings.Contains(err.Error(), "marina model push fraud@1.0.0") {
				t.Fatalf("pushing a registered version through register: %v", err)
			}
		})
	}
}

func TestRecordPushCommitsTheNewLocationOnceAndThenDoesNothing(t *testing.T) {
	t.Parallel()
	dir, reg := newRegistry(t)
	if _, err := reg.Register(registry.Registration{Name: "fraud", Version: "1.0.0", File: artifact(t, dir, "weights")}); err != nil {
		t.Fatal(err)
	}
	v, err := reg.Get("fraud", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	res, err := reg.RecordPush(v, pushedURI, "model.bin")
	if err != nil || res.Unchanged || !strings.Contains(repotest.Git(t, dir, "log", "-1", "--format=%B"), "Previous: model.bin") {
		t.Fatalf("first record: %+v, %v", res, err)
	}
	head := repotest.Git(t, dir, "rev-parse", "HEAD")
	v, _ = reg.Get("fraud", "1.0.0")
	if res, err := reg.RecordPush(v, pushedURI, "model.bin"); err != nil || !res.Unchanged || repotest.Git(t, dir, "rev-parse", "HEAD") != head {
		t.Fatalf("recording it again: %+v, %v", res, err)
	}
}
