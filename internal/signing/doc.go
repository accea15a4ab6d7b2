// Package signing signs and verifies models and images with a key pair, offline, as Sigstore bundles
// (sigstore-go): no Fulcio certificate, no Rekor entry. A model signature follows the OpenSSF model-signing
// format v1.0: a DSSE envelope carrying an in-toto statement with predicate type
// https://model_signing/signature/v1.0 that lists the model's files and their sha256 digests. An image signature
// is what cosign v3 writes for an OCI manifest digest (cosign sign --key, its bundle format): a DSSE envelope
// carrying an in-toto statement with predicate type https://sigstore.dev/cosign/sign/v1 and the digest as subject.
package signing
