// Command image builds marina's two container images without Docker (make image): marina (the static
// CGO_ENABLED=0 binary, CA certificates, /etc/passwd with nonroot 65532) and marina-serve (the cgo model server,
// ONNX Runtime's libonnxruntime.so.1, the C/C++ runtime libraries they need, CA certificates), into an OCI image
// layout and, with -registry, to a registry.
//
// The runtime libraries come from the Debian packages pinned in debian.lock (fetched with apt-get download, checked
// against their sha256, read with dpkg-deb); the image keeps only the files the ELF dependencies of marina-serve and
// ONNX Runtime reach, checked for the symbol versions they need. Layers are reproducible (sorted entries, owner 0:0,
// the commit's time as every timestamp, binaries built with -trimpath and without VCS stamping), so a commit
// builds to the same digests every time.
package main
