package source

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"
)

// Module is marina's Go module path, which FindRoot looks for in go.mod.
const Module = "github.com/marina-dev/marina"

// ErrNoRoot means no directory at or above the one searched holds marina's go.mod.
var ErrNoRoot = errors.New("not in a clone of marina (no go.mod of " + Module + " at or above)")

// FindRoot returns the nearest directory at or above dir whose go.mod declares marina's module: the source tree
// whose hack/ scripts build what the sandbox and the tests run.
func FindRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && modfile.ModulePath(b) == Module {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%s: %w", dir, ErrNoRoot)
		}
	}
}

// FindRootFromWorkingDir is FindRoot of the working directory: a clone's source tree for a command run in it, and
// for a test, which runs in its package's directory (found from there, not from a compiled file path, which
// -trimpath builds do not keep).
func FindRootFromWorkingDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("cannot read the working directory: %w", err)
	}
	return FindRoot(wd)
}

// CacheDir is where the hack/ scripts cache what they build: MARINA_CACHE, default ~/.cache/marina.
func CacheDir() (string, error) {
	if cache := os.Getenv("MARINA_CACHE"); cache != "" {
		return cache, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "marina"), nil
}
