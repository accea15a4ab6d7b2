package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// nonroot is the user and group the images run as, as in distroless.
	nonroot = 65532
	// onnxRuntimePath is where marina-serve's image holds ONNX Runtime (ONNXRUNTIME_LIB points there).
	onnxRuntimePath = "/usr/lib/x86_64-linux-gnu/libonnxruntime.so.1"
	// caBundle is where Go (and OpenSSL) look for the CA certificates.
	caBundle = "/etc/ssl/certs/ca-certificates.crt"
)

// layerSpec is one layer of an image: its files and a line for the image's history.
type layerSpec struct {
	files tree
	what  string
}

// imageSpec is one of marina's images.
type imageSpec struct {
	name   string
	binary string // the entrypoint, /usr/bin/<name>
	layers []layerSpec
	env    []string
}

// sources is what the images are made of: the two binaries, ONNX Runtime and the locked Debian packages.
type sources struct {
	marina, serve, onnxRuntime string
	debs                       map[string]string // package name → .deb
}

// specs lays out the two images. Both start with the same base layer (users, CA certificates), so a registry
// stores it once.
func specs(src sources) ([]imageSpec, error) {
	base, err := baseLayer(src.debs["ca-certificates"])
	if err != nil {
		return nil, err
	}
	runtime, err := runtimeLayer(src, []string{"libc6", "libgcc-s1", "libstdc++6", "gcc-12-base"})
	if err != nil {
		return nil, err
	}
	return []imageSpec{
		{
			name: "marina", binary: "/usr/bin/marina",
			layers: []layerSpec{base, binaryLayer("/usr/bin/marina", src.marina)},
		},
		{
			name: "marina-serve", binary: "/usr/bin/marina-serve",
			layers: []layerSpec{
				base, runtime,
				{files: tree{onnxRuntimePath: {Type: tar.TypeReg, Mode: 0o755, Src: src.onnxRuntime}}, what: "ONNX Runtime (npm onnxruntime-node)"},
				binaryLayer("/usr/bin/marina-serve", src.serve),
			},
			env: []string{"ONNXRUNTIME_LIB=" + onnxRuntimePath},
		},
	}, nil
}

func binaryLayer(at, src string) layerSpec {
	return layerSpec{files: tree{at: {Type: tar.TypeReg, Mode: 0o755, Src: src}}, what: path.Base(at)}
}

// baseLayer holds /etc/passwd and /etc/group (root, nonroot 65532, nobody), the CA bundle made from the
// ca-certificates package (its certificates concatenated in name order, which is what update-ca-certificates does
// without local additions), /tmp, and the package's copyright and dpkg status for scanners.
func baseLayer(deb string) (layerSpec, error) {
	t, control, err := debTree(deb, "/usr/share/ca-certificates/mozilla/", "/usr/share/doc/ca-certificates/copyright")
	if err != nil {
		return layerSpec{}, err
	}
	var certs []string
	for p := range t {
		if strings.HasSuffix(p, ".crt") {
			certs = append(certs, p)
		}
	}
	if len(certs) == 0 {
		return layerSpec{}, fmt.Errorf("%s: no certificates under /usr/share/ca-certificates/mozilla", deb)
	}
	slices.Sort(certs)
	var bundle bytes.Buffer
	for _, p := range certs {
		bundle.Write(t[p].Data)
		if !bytes.HasSuffix(t[p].Data, []byte("\n")) {
			bundle.WriteByte('\n')
		}
	}
	files := tree{
		"/etc/passwd": {Type: tar.TypeReg, Mode: 0o644, Data: fmt.Appendf(nil,
			"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonroot, nonroot)},
		"/etc/group": {Type: tar.TypeReg, Mode: 0o644, Data: fmt.Appendf(nil,
			"root:x:0:\nnobody:x:65534:\nnonroot:x:%d:\n", nonroot)},
		caBundle: {Type: tar.TypeReg, Mode: 0o644, Data: bundle.Bytes()},
		"/tmp":   {Type: tar.TypeDir, Mode: 0o1777},
	}
	addPackageRecord(files, t, "ca-certificates", control)
	return layerSpec{files: files, what: "users, CA certificates (Debian ca-certificates)"}, nil
}

// runtimeLayer holds the C/C++ runtime marina-serve and ONNX Runtime need: exactly the files their ELF
// dependencies reach in the packages pkgs, with the copyright and dpkg status of the packages they come from (and
// of the package holding their copyright, when their documentation directory links to it).
func runtimeLayer(src sources, pkgs []string) (layerSpec, error) {
	all := tree{
		"/usr/bin/marina-serve": {Type: tar.TypeReg, Mode: 0o755, Src: src.serve},
		onnxRuntimePath:         {Type: tar.TypeReg, Mode: 0o755, Src: src.onnxRuntime},
	}
	owner := map[string]string{}
	controls := map[string][]byte{}
	docs := tree{}
	for _, name := range pkgs {
		t, control, err := debTree(src.debs[name], "/lib", "/lib64", "/usr/lib/x86_64-linux-gnu/", "/usr/share/doc/"+name)
		if err != nil {
			return layerSpec{}, err
		}
		controls[name] = control
		for p, f := range t {
			if strings.HasPrefix(p, "/usr/share/doc/") {
				docs[p] = f
				continue
			}
			all[p] = f
			owner[p] = name
		}
	}
	deps, err := elfDeps(all, "/usr/bin/marina-serve", onnxRuntimePath)
	if err != nil {
		return layerSpec{}, err
	}
	files := tree{}
	used := map[string]bool{}
	for _, p := range deps {
		files[p] = all[p]
		used[owner[p]] = true
	}
	for _, name := range pkgs {
		if !used[name] {
			continue
		}
		addPackageRecord(files, docs, name, controls[name])
		// Debian's GCC libraries keep their copyright in gcc-NN-base: /usr/share/doc/libstdc++6 -> gcc-12-base.
		if doc, ok := docs["/usr/share/doc/"+name]; ok && doc.Type == tar.TypeSymlink {
			files["/usr/share/doc/"+name] = doc
			used[doc.Link] = true
		}
	}
	for _, name := range pkgs {
		if _, ok := files["/var/lib/dpkg/status.d/"+name]; !ok && used[name] {
			addPackageRecord(files, docs, name, controls[name])
		}
	}
	return layerSpec{files: files, what: "C/C++ runtime (Debian " + strings.Join(pkgs, ", ") + ")"}, nil
}

// addPackageRecord adds a package's copyright file (from docs) and its dpkg status entry, where distroless puts
// it (/var/lib/dpkg/status.d/NAME) so that image scanners know the package and its version.
func addPackageRecord(files, docs tree, name string, control []byte) {
	if f, ok := docs["/usr/share/doc/"+name+"/copyright"]; ok {
		files["/usr/share/doc/"+name+"/copyright"] = file{Type: tar.TypeReg, Mode: 0o644, Data: f.Data}
	}
	status := append([]byte("Status: install ok installed\n"), control...)
	files["/var/lib/dpkg/status.d/"+name] = file{Type: tar.TypeReg, Mode: 0o644, Data: status}
}

// buildInfo is what an image records about its build.
type buildInfo struct {
	version, revision, source string
	created                   time.Time
}

// assemble writes each layer as a reproducible tar under work and makes the image: OCI media types, user
// 65532:65532, the binary as entrypoint, no shell needed.
func assemble(spec imageSpec, info buildInfo, work string) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	for i, l := range spec.layers {
		tarPath := filepath.Join(work, fmt.Sprintf("%s-%d.tar", spec.name, i))
		if err := writeFile(tarPath, func(f *os.File) error { return l.files.writeTar(f, info.created) }); err != nil {
			return nil, fmt.Errorf("%s layer %d: %w", spec.name, i, err)
		}
		// The compressed layer is read for its digest, the layout and the push: gzip it once.
		layer, err := tarball.LayerFromFile(tarPath, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: layer, History: v1.History{
			Created: v1.Time{Time: info.created}, CreatedBy: "hack/image: " + l.what, Comment: "marina " + info.version,
		}})
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: info.created}
	cf.Config.User = fmt.Sprintf("%d:%d", nonroot, nonroot)
	cf.Config.Entrypoint = []string{spec.binary}
	cf.Config.WorkingDir = "/"
	cf.Config.Env = append([]string{"PATH=/usr/bin", "SSL_CERT_FILE=" + caBundle}, spec.env...)
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.source":   info.source,
		"org.opencontainers.image.revision": info.revision,
		"org.opencontainers.image.version":  info.version,
		"org.opencontainers.image.title":    spec.name,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, cf.Config.Labels).(v1.Image), nil
}

// writeFile creates path and has write fill it.
func writeFile(path string, write func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
