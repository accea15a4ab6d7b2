package kubeschema

import (
	"os"
	"path/filepath"
)

// CacheDir is where hack/crds.sh puts third-party CRDs, one directory per module version:
// $MARINA_CRDS_DIR if set, else ${MARINA_CACHE:-$HOME/.cache/marina}/crds.
func CacheDir() string {
	if d := os.Getenv("MARINA_CRDS_DIR"); d != "" {
		return d
	}
	base := os.Getenv("MARINA_CACHE")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		base = filepath.Join(home, ".cache", "marina")
	}
	return filepath.Join(base, "crds")
}
