package testenv

import (
	"os/exec"
	"regexp"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// imageDigestLine is the line make image prints per image: NAME@sha256:…, a tab, then sizes.
var imageDigestLine = regexp.MustCompile(`(?m)^(marina|marina-serve)@(sha256:[0-9a-f]{64})\t`)

// ImageBuild is what make image built.
type ImageBuild struct {
	// Digests are the manifest digests by image name: marina and marina-serve.
	Digests map[string]string
	// Output is everything make image printed.
	Output string
}

// MakeImage runs `make image` in marina's source tree into the OCI layout out, pushing both images to registry
// (host:port[/path]) when it is not empty, over HTTP with plainHTTP. The caller checks for ONNX Runtime first
// (inferencetest.Lib), which the image packs.
func MakeImage(tb TB, out, registry string, plainHTTP bool) ImageBuild {
	tb.Helper()
	args := []string{"-s", "-C", RepoRoot(tb), "image", "IMAGE_OUT=" + out}
	if registry != "" {
		args = append(args, "REGISTRY="+registry)
	}
	if plainHTTP {
		args = append(args, "PLAIN_HTTP=1")
	}
	b, err := exec.Command("make", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("make image: %v\n%s", err, b)
	}
	build := ImageBuild{Digests: map[string]string{}, Output: string(b)}
	for _, m := range imageDigestLine.FindAllStringSubmatch(build.Output, -1) {
		build.Digests[m[1]] = m[2]
	}
	if len(build.Digests) != 2 {
		tb.Fatalf("make image printed %d image digests, want marina's and marina-serve's:\n%s", len(build.Digests), b)
	}
	tb.Logf("make image:\n%s", b)
	return build
}

// PushLayout pushes every image of the OCI layout dir (what MakeImage wrote, each named by its
// org.opencontainers.image.ref.name annotation) to registry/NAME over plain HTTP, tagged e2e, and returns the
// digests by name: the build of one MakeImage serves the registries of several tests.
func PushLayout(tb TB, dir, registry string) map[string]string {
	tb.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		tb.Fatalf("reading the image layout %s: %v", dir, err)
	}
	index, err := p.ImageIndex()
	if err != nil {
		tb.Fatal(err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		tb.Fatal(err)
	}
	digests := map[string]string{}
	for _, desc := range manifest.Manifests {
		n := desc.Annotations["org.opencontainers.image.ref.name"]
		img, err := index.Image(desc.Digest)
		if err != nil {
			tb.Fatal(err)
		}
		ref, err := name.NewTag(registry+"/"+n+":e2e", name.Insecure)
		if err != nil {
			tb.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			tb.Fatalf("pushing %s: %v", ref, err)
		}
		digests[n] = desc.Digest.String()
	}
	return digests
}
