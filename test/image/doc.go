// Package image tests marina's container images (make image, hack/image): the same commit builds to the same
// digests and pushes to a real registry (-tags e2e), the marina-serve image answers an inference under Debian's runc
// as user 65532 with a read-only root, the marina image runs marina version, and the Dockerfiles for Docker/BuildKit
// users hold what can be checked without building them.
package image
