// Package signingtest makes key pairs for tests the way users make them: with openssl, and with cosign's own
// key-pair code for an encrypted cosign key.
package signingtest
