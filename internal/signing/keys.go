package signing

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// PasswordEnv is the environment variable an encrypted private key's password is read from: cosign's, so a key
// made by cosign generate-key-pair works as it is.
const PasswordEnv = "COSIGN_PASSWORD"

// maxKeySize caps a key file: PEM keys are a few hundred bytes.
const maxKeySize = 64 << 10

// PrivateKey is a signing key read from a PEM file: ECDSA (P-256, P-384, P-521) or Ed25519, as PKCS#8
// (openssl genpkey), SEC 1 (openssl ecparam -genkey), encrypted PKCS#8, or cosign's encrypted key.
type PrivateKey struct {
	signer crypto.Signer
	alg    signature.AlgorithmDetails
	hint   []byte
	pubPEM []byte
}

// PublicKey is a verification key read from a PEM file ("PUBLIC KEY", as openssl pkey -pubout and cosign write).
type PublicKey struct {
	// File is where the key was read from, for messages.
	File     string
	verifier signature.Verifier
}

var _ sign.Keypair = (*PrivateKey)(nil)

// readCapped reads a small file whole, refusing one over limit bytes.
func readCapped(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes; is it a key?", file, limit)
	}
	return data, nil
}

// EnvPassword gives an encrypted private key the password in $COSIGN_PASSWORD.
func EnvPassword(bool) ([]byte, error) {
	pw, ok := os.LookupEnv(PasswordEnv)
	if !ok {
		return nil, fmt.Errorf("the key is encrypted: set %s to its password", PasswordEnv)
	}
	return []byte(pw), nil
}

// LoadPrivateKey reads a PEM private key; password is asked for an encrypted one's password (EnvPassword).
func LoadPrivateKey(file string, password cryptoutils.PassFunc) (*PrivateKey, error) {
	data, err := readCapped(file, maxKeySize)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(data, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return k, nil
}

// ParsePrivateKey parses a PEM private key; password is asked for an encrypted one.
func ParsePrivateKey(data []byte, password cryptoutils.PassFunc) (*PrivateKey, error) {
	raw, err := cryptoutils.UnmarshalPEMToPrivateKey(data, password)
	if err != nil {
		return nil, fmt.Errorf("not a usable PEM private key (%w); want ECDSA or Ed25519, e.g. from openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 or cosign generate-key-pair", err)
	}
	signer, ok := raw.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T: want ECDSA or Ed25519", raw)
	}
	alg, err := algorithm(signer.Public())
	if err != nil {
		return nil, err
	}
	details, err := signature.GetAlgorithmDetails(alg)
	if err != nil {
		return nil, err
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(signer.Public())
	if err != nil {
		return nil, err
	}
	return &PrivateKey{signer: signer, alg: details, hint: []byte(keyHint(pubPEM)), pubPEM: pubPEM}, nil
}

// keyHint identifies a public key the way the model-signing tool does: the hex sha256 of its PEM form.
func keyHint(pubPEM []byte) string {
	sum := sha256.Sum256(pubPEM)
	return hex.EncodeToString(sum[:])
}

// algorithm is the Sigstore algorithm of a public key, refusing what marina does not sign with.
func algorithm(pub crypto.PublicKey) (protocommon.PublicKeyDetails, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, nil
		case elliptic.P384():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, nil
		case elliptic.P521():
			return protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, nil
		}
		return 0, fmt.Errorf("unsupported ECDSA curve %s: want P-256, P-384 or P-521", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return protocommon.PublicKeyDetails_PKIX_ED25519, nil
	}
	return 0, fmt.Errorf("unsupported key type %T: want ECDSA or Ed25519", pub)
}

// GetHashAlgorithm is the hash the key signs with.
func (k *PrivateKey) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }

// GetSigningAlgorithm is the key's Sigstore algorithm.
func (k *PrivateKey) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}

// GetHint is the public key's identifier recorded in the bundle.
func (k *PrivateKey) GetHint() []byte { return k.hint }

// GetKeyAlgorithm is the key's family, as Fulcio names it.
func (k *PrivateKey) GetKeyAlgorithm() string {
	if k.alg.GetKeyType() == signature.ED25519 {
		return "ED25519"
	}
	return "ECDSA"
}

// GetPublicKey is the public half of the key.
func (k *PrivateKey) GetPublicKey() crypto.PublicKey { return k.signer.Public() }

// GetPublicKeyPem is the public half in PEM form.
func (k *PrivateKey) GetPublicKeyPem() (string, error) { return string(k.pubPEM), nil }

// SignData signs data: ECDSA over its digest, Ed25519 over the data itself.
func (k *PrivateKey) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	h := k.alg.GetHashType()
	signed := data
	if h != crypto.Hash(0) {
		d := h.New()
		d.Write(data)
		signed = d.Sum(nil)
	}
	sig, err := k.signer.Sign(rand.Reader, signed, h)
	if err != nil {
		return nil, nil, err
	}
	return sig, signed, nil
}

// LoadPublicKey reads a PEM public key.
func LoadPublicKey(file string) (PublicKey, error) {
	data, err := readCapped(file, maxKeySize)
	if err != nil {
		return PublicKey{}, err
	}
	return ParsePublicKey(file, data)
}

// ParsePublicKey parses a PEM public key; file names it in messages.
func ParsePublicKey(file string, data []byte) (PublicKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%s: not a PEM public key (%w); export one with openssl pkey -pubout or use cosign.pub", file, err)
	}
	if _, err := algorithm(pub); err != nil {
		return PublicKey{}, fmt.Errorf("%s: %w", file, err)
	}
	v, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%s: %w", file, err)
	}
	return PublicKey{File: file, verifier: v}, nil
}

// errNoKeys is returned when verification is asked with no key at all: a caller bug or an empty configuration.
var errNoKeys = errors.New("no public key to verify with")
