package model

import "time"

// States a registered version moves through.
const (
	StateRegistered = "registered"
	StateActive     = "active"
	StateBlocked    = "blocked"
	StateArchived   = "archived"
)

// Version is models/<model>/v<semver>.json: one registered model version.
type Version struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Tag is v<semver>-<short sha of the commit the version was registered on top of>.
	Tag        string             `json:"tag"`
	Format     string             `json:"format"`
	Artifact   Artifact           `json:"artifact"`
	Signature  *Signature         `json:"signature,omitempty"`
	Metrics    map[string]float64 `json:"metrics,omitempty"`
	Provenance *Provenance        `json:"provenance,omitempty"`
	Created    time.Time          `json:"created"`
	State      string             `json:"state"`
	// StateReason says why the version is blocked or archived.
	StateReason string            `json:"stateReason,omitempty"`
	Signing     *Signing          `json:"signing,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	// Image is the serving image CI built for this version, pinned by digest (marina model set-image).
	Image *Image `json:"image,omitempty"`
}

// Image is a container image pinned by digest.
type Image struct {
	// Ref is the image repository without tag or digest, e.g. ghcr.io/acme/models/fraud-detector.
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
}

// String is ref@digest, the form Kubernetes pulls.
func (i Image) String() string { return i.Ref + "@" + i.Digest }

// Artifact locates the model file and pins its content.
type Artifact struct {
	URI    string `json:"uri"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// File is the model file's name inside the OCI artifact URI names (marina model push): model/<File> in its
	// layer, so /models/<File> once marina model pull fetched it.
	File string `json:"file,omitempty"`
}

// Signature is the model's interface, read from the file where the format allows.
type Signature struct {
	Opset     int64    `json:"opset,omitempty"`
	IRVersion int64    `json:"irVersion,omitempty"`
	Producer  string   `json:"producer,omitempty"`
	Inputs    []Tensor `json:"inputs,omitempty"`
	Outputs   []Tensor `json:"outputs,omitempty"`
}

// Provenance records how the model was trained.
type Provenance struct {
	GitCommit     string            `json:"gitCommit,omitempty"`
	DatasetDigest string            `json:"datasetDigest,omitempty"`
	Parameters    map[string]string `json:"parameters,omitempty"`
}

// Signing locates the artifact's signature.
type Signing struct {
	// Bundle is the repository path of a Sigstore bundle (model.SignatureFile, written by marina model sign).
	Bundle string `json:"bundle,omitempty"`
	// Ref is an OCI reference of a signature kept in a registry.
	Ref string `json:"ref,omitempty"`
}
