package testenv

import (
	"os/exec"
	"regexp"
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
