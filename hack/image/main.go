package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// options are the command's flags.
type options struct {
	out, lock, cache, onnxRuntime, registry, version string
	updateLock, plainHTTP                            bool
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "bin/image", "the OCI image layout to write (replaced)")
	flag.StringVar(&o.lock, "lock", "hack/image/debian.lock", "the pinned Debian packages")
	flag.StringVar(&o.cache, "cache", "", "where downloaded .deb files are kept (default ${MARINA_CACHE:-~/.cache/marina}/image)")
	flag.StringVar(&o.onnxRuntime, "onnxruntime", "", "libonnxruntime.so.1 (what hack/onnxruntime.sh prints)")
	flag.StringVar(&o.registry, "registry", "", "also push both images to this registry (host:port[/path]), credentials from the Docker config")
	flag.StringVar(&o.version, "version", "", "the version the binaries report (default: git describe --tags --always --dirty)")
	flag.BoolVar(&o.plainHTTP, "plain-http", false, "push over HTTP, not HTTPS (a test registry without TLS; loopback ones are reached over HTTP anyway)")
	flag.BoolVar(&o.updateLock, "update-lock", false, "pin the versions apt offers now in the lock file, and build nothing")
	flag.Parse()
	if err := run(context.Background(), o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	if o.cache == "" {
		base := os.Getenv("MARINA_CACHE")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return err
			}
			base = filepath.Join(home, ".cache", "marina")
		}
		o.cache = filepath.Join(base, "image")
	}
	if err := os.MkdirAll(o.cache, 0o755); err != nil {
		return err
	}
	if o.updateLock {
		return updateLock(o.lock)
	}
	if o.onnxRuntime == "" {
		return errors.New("-onnxruntime is required: the path bash hack/onnxruntime.sh prints")
	}
	start := time.Now()
	b, err := os.ReadFile(o.lock)
	if err != nil {
		return err
	}
	pkgs, err := parseLock(o.lock, b)
	if err != nil {
		return err
	}
	info, err := gitInfo(o.version)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp(o.cache, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	src := sources{marina: filepath.Join(work, "marina"), serve: filepath.Join(work, "marina-serve"), onnxRuntime: o.onnxRuntime}
	if err := goBuild(src.marina, "./cmd/marina", false, info); err != nil {
		return err
	}
	if err := goBuild(src.serve, "./cmd/marina-serve", true, info); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "image: built the binaries in %s\n", time.Since(start).Round(time.Second))
	if src.debs, err = debs(filepath.Join(o.cache, "debs"), pkgs); err != nil {
		return err
	}
	imgSpecs, err := specs(src)
	if err != nil {
		return err
	}
	images := map[string]v1.Image{}
	names := make([]string, 0, len(imgSpecs))
	for _, s := range imgSpecs {
		img, err := assemble(s, info, work)
		if err != nil {
			return err
		}
		images[s.name] = img
		names = append(names, s.name)
	}
	if err := writeLayout(o.out, names, images); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "image: wrote %s in %s\n", o.out, time.Since(start).Round(time.Second))
	for _, n := range names {
		if err := summarize(stdout, n, images[n]); err != nil {
			return err
		}
	}
	if o.registry == "" {
		return nil
	}
	for _, n := range names {
		if err := push(ctx, stdout, o.registry, n, info.version, images[n], o.plainHTTP); err != nil {
			return err
		}
	}
	return nil
}

// gitInfo is the commit being built and its time (every file's and the images' creation time, as
// SOURCE_DATE_EPOCH asks when set).
func gitInfo(version string) (buildInfo, error) {
	git := func(args ...string) (string, error) {
		out, err := exec.Command("git", args...).Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w (make image runs in marina's Git checkout)", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	rev, err := git("rev-parse", "HEAD")
	if err != nil {
		return buildInfo{}, err
	}
	if version == "" {
		if version, err = git("describe", "--tags", "--always", "--dirty"); err != nil {
			return buildInfo{}, err
		}
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		if epoch, err = git("show", "-s", "--format=%ct", "HEAD"); err != nil {
			return buildInfo{}, err
		}
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return buildInfo{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", epoch)
	}
	return buildInfo{version: version, revision: rev, source: "https://github.com/marina-dev/marina", created: time.Unix(sec, 0).UTC()}, nil
}

// goBuild builds a reproducible binary: no build paths (-trimpath), no VCS stamp (the version and commit come in
// through -ldflags instead), no symbol table.
func goBuild(out, pkg string, cgo bool, info buildInfo) error {
	const cli = "github.com/marina-dev/marina/internal/cli"
	ldflags := fmt.Sprintf("-s -w -X %s.version=%s -X %s.commit=%s", cli, info.version, cli, info.revision)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED="+map[bool]string{true: "1", false: "0"}[cgo])
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// writeLayout replaces dir with an OCI image layout holding the images, each named by its
// org.opencontainers.image.ref.name annotation.
func writeLayout(dir string, names []string, images map[string]v1.Image) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := p.AppendImage(images[n], layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": n})); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// summarize prints an image's digest and sizes.
func summarize(w io.Writer, n string, img v1.Image) error {
	d, err := img.Digest()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var compressed, uncompressed int64
	for _, l := range layers {
		c, err := l.Size()
		if err != nil {
			return err
		}
		u, err := uncompressedSize(l)
		if err != nil {
			return err
		}
		compressed += c
		uncompressed += u
	}
	_, err = fmt.Fprintf(w, "%s@%s\t%d layers\t%.1f MiB compressed\t%.1f MiB uncompressed\n", n, d, len(layers), mib(compressed), mib(uncompressed))
	return err
}

func uncompressedSize(l v1.Layer) (int64, error) {
	r, err := l.Uncompressed()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(io.Discard, r)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// push writes img to REGISTRY/NAME:TAG (plain HTTP for a loopback registry, as ggcr does) and prints its reference
// by digest.
func push(ctx context.Context, w io.Writer, registry, n, version string, img v1.Image, plainHTTP bool) error {
	tag := strings.Map(func(r rune) rune {
		if r == '+' {
			return '_'
		}
		return r
	}, version)
	var opts []name.Option
	if plainHTTP {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewTag(registry+"/"+n+":"+tag, opts...)
	if err != nil {
		return fmt.Errorf("-registry %s: %w", registry, err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "pushed %s@%s\n", ref.Context(), d)
	return err
}
