package validate

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/marina-dev/marina/internal/model"
	"github.com/marina-dev/marina/internal/project"
	"github.com/marina-dev/marina/internal/signing"
)

// signatures verifies the signatures of deployed versions with the public keys of marina.yaml, each key and each
// version once however many applications and environments deploy it.
type signatures struct {
	once     sync.Once
	keys     []signing.PublicKey
	problems []Finding // keys marina.yaml names that cannot be used

	mu       sync.Mutex
	verified map[string]error // by version file: nil, or why its signature does not hold
}

// loadKeys reads the public keys of spec.signing.publicKeys once.
func (v *validation) loadKeys() ([]signing.PublicKey, []Finding) {
	s := &v.signatures
	s.once.Do(func() {
		if v.project == nil || v.project.Spec.Signing == nil {
			return
		}
		for i, p := range v.project.Spec.Signing.PublicKeys {
			ptr := "/spec/signing/publicKeys/" + strconv.Itoa(i)
			data, err := v.r.ReadFile(p, 1<<16)
			var k signing.PublicKey
			if err == nil {
				k, err = signing.ParsePublicKey(p, data)
			}
			if err != nil {
				s.problems = append(s.problems, finding("signing-key", project.ProjectFile, fmt.Sprintf("spec.signing.publicKeys[%d]", i), v.projectLine(ptr),
					"commit the PEM public key at that path (openssl pkey -in KEY -pubout, or cosign.pub), or fix the path",
					"public key: %v", err))
				continue
			}
			s.keys = append(s.keys, k)
		}
	})
	return s.keys, s.problems
}

// checkSigningKeys reports the keys of marina.yaml that cannot be used.
func (v *validation) checkSigningKeys() []Finding {
	_, problems := v.loadKeys()
	return problems
}

// verifySignature checks mv's signature bundle with the keys and that it signs mv's recorded artifact digest.
func (v *validation) verifySignature(mv *model.Version, keys []signing.PublicKey) error {
	file := model.File(mv.Name, mv.Version)
	s := &v.signatures
	s.mu.Lock()
	defer s.mu.Unlock()
	if err, ok := s.verified[file]; ok {
		return err
	}
	data, err := v.r.ReadFile(mv.Signing.Bundle, signing.MaxBundleSize)
	if err == nil {
		var m signing.Manifest
		if m, err = signing.VerifyModel(data, keys); err == nil {
			err = m.Check(signing.DigestResource("artifact.digest", mv.Artifact.Digest))
		}
	}
	if s.verified == nil {
		s.verified = map[string]error{}
	}
	s.verified[file] = err
	return err
}

// checkSigned is the requireSignedArtifacts policy for one deployed version: signed, by a key of marina.yaml,
// over the artifact the version records.
func (v *validation) checkSigned(a *application, env string, mv *model.Version) []Finding {
	field, line := "spec.environments."+env+".version", a.line("spec", "environments", env, "version")
	id, file := mv.Name+"@"+mv.Version, model.File(mv.Name, mv.Version)
	sign := "marina model sign " + id + " --key KEY"
	if mv.Signing == nil || mv.Signing.Bundle == "" {
		what := "has no signing"
		if mv.Signing != nil && mv.Signing.Ref != "" {
			what = "records only signing.ref " + mv.Signing.Ref + ", which validate cannot check offline"
		}
		return []Finding{finding("policy-signed", a.file, field, line, "sign it: "+sign+" (commits the bundle and records it in "+file+"), or deploy a signed version",
			"environment %q requires signed artifacts; %s %s", env, id, what)}
	}
	keys, _ := v.loadKeys()
	if len(keys) == 0 {
		return []Finding{finding("policy-signed", a.file, field, line, "list the PEM public keys signers use under spec.signing.publicKeys in marina.yaml (paths in the repository)",
			"environment %q requires signed artifacts, but marina.yaml names no usable public key to verify %s's signature with", env, id)}
	}
	if err := v.verifySignature(mv, keys); err != nil {
		return []Finding{finding("policy-signed", mv.Signing.Bundle, "", 0,
			"sign it again with a key marina.yaml trusts: "+sign+", or add the signer's public key to spec.signing.publicKeys",
			"%s, deployed to %q by %s: %v", id, env, a.file, err)}
	}
	return nil
}
