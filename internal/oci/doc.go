// Package oci stores model versions as OCI artifacts in a registry, with oras-go: one OCI image manifest per
// version whose single uncompressed tar layer holds model/<file> and model/marina.json (the version's metadata),
// built byte-for-byte the same every time, so a version pushed twice has one digest. The config is an OCI image
// config, so containerd and CRI-O can mount the artifact as a Kubernetes image volume and KServe can use it as a
// modelcar; artifactType and layer annotations follow the CNCF ModelPack specification where they fit.
//
// Signatures (Sigstore bundles) are attached to a manifest, a model artifact's or an image's, as OCI referrers
// in the layout cosign v3 writes, through the referrers API or, where the registry lacks it (distribution v3.1),
// the referrers tag schema.
//
// References are pinned by digest (oci://HOST/REPO@sha256:…); credentials come from the Docker configuration
// (~/.docker/config.json, $DOCKER_CONFIG, credential helpers) as docker, oras and crane read it, with --plain-http
// for a registry without TLS and --ca-file for a private CA.
package oci
