//go:build e2e

package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/marina-dev/marina/internal/inference"
	"github.com/marina-dev/marina/internal/inference/inferencetest"
	"github.com/marina-dev/marina/internal/prereq"
	"github.com/marina-dev/marina/internal/testenv"
)

// runc is Debian's runc (apt-get install runc): a runc built from the Go module without libseccomp fails on the
// default seccomp profile, and one on ~/go/bin would come first on PATH.
const runc = "/usr/sbin/runc"

// built is the layout the first make image of this test binary wrote, shared by the tests that run its images.
var built struct {
	once    sync.Once
	dir     string
	digests map[string]string
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// makeImage runs make image into out (and pushes to registry when not empty) and returns the digests it printed
// by image name, and its output.
func makeImage(t *testing.T, out, registry string) (map[string]string, string) {
	t.Helper()
	inferencetest.Lib(t) // make image packs ONNX Runtime: skip (or fail) with the hint when it is missing
	b := testenv.MakeImage(t, out, registry, false)
	return b.Digests, b.Output
}

// sharedBuild is the first make image of the test binary.
func sharedBuild(t *testing.T) (string, map[string]string) {
	t.Helper()
	inferencetest.Lib(t) // before the Once: a skip there would fail the other tests
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "marina-image-")
		if err != nil {
			built.err = err
			return
		}
		built.dir = filepath.Join(dir, "layout")
		built.digests, _ = makeImage(t, built.dir, "")
	})
	if built.err != nil || built.digests == nil {
		t.Fatalf("the shared make image failed: %v", built.err)
	}
	return built.dir, built.digests
}

func TestMakeImageGivesTheSameDigestsTwiceAndPushesThemToARegistry(t *testing.T) {
	t.Parallel()
	first, want := sharedBuild(t)
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{})
	second := filepath.Join(t.TempDir(), "layout")
	got, out := makeImage(t, second, reg.Host+"/marina-dev")
	for _, n := range []string{"marina", "marina-serve"} {
		if got[n] != want[n] {
			t.Errorf("%s: the second build of the same commit is %s, the first %s", n, got[n], want[n])
		}
		pushed := fmt.Sprintf("pushed %s/marina-dev/%s@%s", reg.Host, n, want[n])
		if !strings.Contains(out, pushed) {
			t.Errorf("make image REGISTRY=… did not say %q", pushed)
		}
		ref, err := name.NewDigest(fmt.Sprintf("%s/marina-dev/%s@%s", reg.Host, n, want[n]))
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatalf("the registry does not serve %s: %v", ref, err)
		}
		if d, err := img.Digest(); err != nil || d.String() != want[n] {
			t.Errorf("%s from the registry: digest %v, %v", ref, d, err)
		}
	}
	a, errA := os.ReadFile(filepath.Join(first, "index.json"))
	b, errB := os.ReadFile(filepath.Join(second, "index.json"))
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Errorf("the two layouts' index.json differ (%v, %v):\n%s\n%s", errA, errB, a, b)
	}
}

func TestTheServeImageAnswersAnInferenceUnderRuncAsNonrootWithAReadOnlyRoot(t *testing.T) {
	t.Parallel()
	img := runnable(t, "marina-serve")
	models, err := filepath.Abs(filepath.Join(root, "examples/ml-platform/models/iris-classifier/artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	c := start(t, img, []string{"serve", "--model", "/models/v1.0.0.onnx", "--name", "iris", "--addr", addr}, models)
	base := "http://" + addr
	c.waitReady(t, base+"/v2/health/ready")

	// The reference: the same model in this process's ONNX Runtime.
	inferencetest.Lib(t)
	sess, err := inference.Load(filepath.Join(models, "v1.0.0.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	x := []float32{5.2, 2.9, 1.5, 0.3, 5.5, 2.7, 4.2, 1.5, 7.4, 3.1, 5.2, 2.2} // setosa, versicolor, virginica
	ref, err := sess.Run([]inference.Tensor{{Name: "input", DType: inference.Float32, Shape: []int64{3, 4}, Float32: x}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "input", "shape": []int{3, 4}, "datatype": "FP32", "data": x}}})
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Post(base+"/v2/models/iris/infer", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("infer: %v\n%s", err, c.output())
	}
	defer resp.Body.Close()
	var got struct {
		Outputs []struct {
			Name  string
			Shape []int64
			Data  []float32
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK || len(got.Outputs) != 1 {
		t.Fatalf("infer: status %d, %+v, %v\n%s", resp.StatusCode, got, err, c.output())
	}
	want := ref[0].Float32
	if len(got.Outputs[0].Data) != len(want) {
		t.Fatalf("probabilities %v, want %v", got.Outputs[0].Data, want)
	}
	for i := range want {
		if math.Abs(float64(got.Outputs[0].Data[i]-want[i])) > 1e-6 {
			t.Fatalf("probabilities %v, want %v (ONNX Runtime on the host)", got.Outputs[0].Data, want)
		}
	}
	for row, label := range []int{0, 1, 2} {
		p := got.Outputs[0].Data[row*3 : row*3+3]
		if argmax := slices.Index(p, slices.Max(p)); argmax != label {
			t.Errorf("row %d: class %d (%v), want %d", row, argmax, p, label)
		}
	}
}

func TestTheMarinaImageRunsMarinaVersionAndHasNoShell(t *testing.T) {
	t.Parallel()
	img := runnable(t, "marina")
	c := start(t, img, []string{"version", "-o", "json"}, "")
	if err := c.wait(30 * time.Second); err != nil {
		t.Fatalf("marina version in the image: %v\n%s", err, c.output())
	}
	var v struct{ Version, GitCommit string }
	if err := json.Unmarshal(c.stdout.Bytes(), &v); err != nil {
		t.Fatalf("marina version -o json: %v\n%s", err, c.output())
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitCommit != strings.TrimSpace(string(head)) || v.Version == "" || v.Version == "dev" {
		t.Errorf("marina version in the image says %+v, want the commit %s and its git describe", v, head)
	}
	for _, sh := range []string{"bin/sh", "usr/bin/sh", "bin/bash"} {
		if _, err := os.Lstat(filepath.Join(c.bundle, "rootfs", sh)); err == nil {
			t.Errorf("the marina image has /%s: it needs no shell", sh)
		}
	}
}

// runnable is an image of the shared build, for a test that runs it under runc.
func runnable(t *testing.T, ref string) v1.Image {
	t.Helper()
	if _, err := os.Stat(runc); err != nil {
		prereq.Missing(t, runc+" not found: apt-get install runc (Debian's, with seccomp)")
	}
	if os.Geteuid() != 0 {
		prereq.Missing(t, "running a container with runc needs root")
	}
	dir, _ := sharedBuild(t)
	return image(t, dir, ref)
}

// image reads one image of an OCI layout by its org.opencontainers.image.ref.name.
func image(t *testing.T, dir, ref string) v1.Image {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == ref {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("%s has no image named %s", dir, ref)
	return nil
}

// container is a runc container run by a test; it is killed and deleted when the test ends, failed or not.
type container struct {
	id, bundle     string
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan error
}

// start unpacks img into a bundle and runs it under runc as the image says (user 65532, entrypoint, env) with a
// read-only root, a tmpfs /tmp, models (when not empty) bind-mounted read-only at /models and the host's network.
func start(t *testing.T, img v1.Image, args []string, models string) *container {
	t.Helper()
	c := &container{id: "marina-image-test-" + strings.ToLower(rand.Text()[:10]), bundle: t.TempDir(), done: make(chan error, 1)}
	rootfs := filepath.Join(c.bundle, "rootfs")
	unpack(t, img, rootfs)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" {
		t.Fatalf("the image runs as %q, want 65532:65532", cf.Config.User)
	}
	if out, err := exec.Command(runc, "spec", "--bundle", c.bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v\n%s", err, out)
	}
	spec := readSpec(t, c.bundle)
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["user"] = map[string]any{"uid": 65532, "gid": 65532}
	proc["args"] = append(slices.Clone(cf.Config.Entrypoint), args...)
	proc["env"] = cf.Config.Env
	proc["cwd"] = "/"
	spec["root"] = map[string]any{"path": "rootfs", "readonly": true}
	mounts := spec["mounts"].([]any)
	mounts = append(mounts, map[string]any{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "nodev", "mode=1777"}})
	if models != "" {
		mounts = append(mounts, map[string]any{"destination": "/models", "type": "bind", "source": models, "options": []string{"rbind", "ro"}})
	}
	spec["mounts"] = mounts
	lx := spec["linux"].(map[string]any)
	lx["namespaces"] = slices.DeleteFunc(lx["namespaces"].([]any), func(ns any) bool { return ns.(map[string]any)["type"] == "network" })
	writeSpec(t, c.bundle, spec)

	c.cmd = exec.Command(runc, "run", "--bundle", c.bundle, c.id)
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		_ = exec.Command(runc, "kill", c.id, "KILL").Run()
		if c.wait(20*time.Second) != nil && t.Failed() {
			t.Logf("container %s:\n%s", c.id, c.output())
		}
		if out, err := exec.Command(runc, "delete", "--force", c.id).CombinedOutput(); err != nil && !strings.Contains(string(out), "does not exist") {
			t.Errorf("runc delete %s: %v\n%s", c.id, err, out)
		}
	})
	return c
}

// wait waits for runc run to return, up to d.
func (c *container) wait(d time.Duration) error {
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(d):
		return fmt.Errorf("still running after %s", d)
	}
}

func (c *container) output() string { return c.stdout.String() + c.stderr.String() }

// waitReady polls url until it answers 200; the container exiting or a minute passing fails the test.
func (c *container) waitReady(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("the container exited before %s answered: %v\n%s", url, err, c.output())
		case <-ctx.Done():
			t.Fatalf("%s did not answer 200 within a minute\n%s", url, c.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// unpack writes the image's file system (its layers flattened) under dir.
func unpack(t *testing.T, img v1.Image, dir string) {
	t.Helper()
	r := mutate.Extract(img)
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !filepath.IsLocal(h.Name) {
			t.Fatalf("the image has an entry outside its root: %q", h.Name)
		}
		p := filepath.Join(dir, h.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode).Perm())
			if err == nil {
				err = os.Chmod(p, os.FileMode(h.Mode).Perm()|modeBits(h.Mode))
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, os.FileMode(h.Mode).Perm()); err == nil {
				_, err = io.Copy(f, tr)
				err = errors.Join(err, f.Close())
			}
		default:
			err = fmt.Errorf("unexpected entry type %q", h.Typeflag)
		}
		if err != nil {
			t.Fatalf("unpacking %s: %v", h.Name, err)
		}
	}
}

// modeBits keeps the sticky bit of a tar mode (/tmp is 1777).
func modeBits(mode int64) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

func readSpec(t *testing.T, bundle string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

func writeSpec(t *testing.T, bundle string, spec map[string]any) {
	t.Helper()
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// freeAddr is a free loopback address for the container's server (host network).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
