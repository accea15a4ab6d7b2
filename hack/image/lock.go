package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// pkg is one line of debian.lock: a Debian package pinned by version and by the sha256 of its .deb.
type pkg struct {
	Name, Version, Arch, SHA256 string
}

// debName is the file name apt-get download gives the package.
func (p pkg) debName() string {
	// apt writes an epoch's colon as %3a in file names.
	return fmt.Sprintf("%s_%s_%s.deb", p.Name, strings.ReplaceAll(p.Version, ":", "%3a"), p.Arch)
}

// aptSpec is what apt-get download takes to fetch exactly this package.
func (p pkg) aptSpec() string {
	if p.Arch == "all" {
		return p.Name + "=" + p.Version
	}
	return p.Name + ":" + p.Arch + "=" + p.Version
}

var (
	lockName    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	lockVersion = regexp.MustCompile(`^[0-9A-Za-z.+~:-]+$`)
	lockSHA256  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// parseLock reads debian.lock: comment lines (#) and blank lines, then `name version arch sha256` lines. Errors name
// the file and line.
func parseLock(file string, b []byte) ([]pkg, error) {
	var pkgs []pkg
	seen := map[string]bool{}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		at := fmt.Sprintf("%s:%d", file, n+1)
		f := strings.Fields(line)
		if len(f) != 4 {
			return nil, fmt.Errorf("%s: want `name version architecture sha256`, got %d fields", at, len(f))
		}
		p := pkg{Name: f[0], Version: f[1], Arch: f[2], SHA256: f[3]}
		switch {
		case !lockName.MatchString(p.Name):
			return nil, fmt.Errorf("%s: %q is not a Debian package name", at, p.Name)
		case !lockVersion.MatchString(p.Version):
			return nil, fmt.Errorf("%s: %q is not a Debian version", at, p.Version)
		case p.Arch != "amd64" && p.Arch != "all":
			return nil, fmt.Errorf("%s: architecture %q: the images are linux/amd64, so amd64 or all", at, p.Arch)
		case !lockSHA256.MatchString(p.SHA256):
			return nil, fmt.Errorf("%s: %q is not a sha256 (64 lowercase hex digits)", at, p.SHA256)
		case seen[p.Name]:
			return nil, fmt.Errorf("%s: %s is pinned twice", at, p.Name)
		}
		seen[p.Name] = true
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%s: no packages", file)
	}
	return pkgs, nil
}

// formatLock rewrites the lock file b with pkgs in place of its package lines, keeping its comments.
func formatLock(b []byte, pkgs []pkg) []byte {
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			out.WriteString(line)
		}
	}
	for _, p := range pkgs {
		fmt.Fprintf(&out, "%s %s %s %s\n", p.Name, p.Version, p.Arch, p.SHA256)
	}
	return out.Bytes()
}

// debs fetches the locked packages into dir (a cache: a .deb already there is only checked) and returns their paths
// by package name. Every .deb must have its locked sha256.
func debs(dir string, pkgs []pkg) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	paths := map[string]string{}
	for _, p := range pkgs {
		path := filepath.Join(dir, p.debName())
		if _, err := os.Stat(path); err != nil {
			if err := aptDownload(dir, p.aptSpec(), p.debName()); err != nil {
				return nil, fmt.Errorf("%w (run apt-get update; if apt still lacks %s %s, Debian has moved on: make image-lock, review the diff of %s, commit)", err, p.Name, p.Version, "hack/image/debian.lock")
			}
		}
		got, err := fileSHA256(path)
		if err != nil {
			return nil, err
		}
		if got != p.SHA256 {
			return nil, fmt.Errorf("%s has sha256 %s but hack/image/debian.lock pins %s for %s %s: refusing it (delete the file to download it again)", path, got, p.SHA256, p.Name, p.Version)
		}
		paths[p.Name] = path
	}
	return paths, nil
}

// aptDownload runs `apt-get download spec` in a scratch directory and moves the file it wrote to dir/name.
func aptDownload(dir, spec, name string) error {
	work, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	// apt drops to the _apt user to download: let it write there.
	if err := os.Chmod(work, 0o777); err != nil {
		return err
	}
	cmd := exec.Command("apt-get", "download", "-q", spec)
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download %s: %v\n%s", spec, err, out)
	}
	return os.Rename(filepath.Join(work, name), filepath.Join(dir, name))
}

// updateLock pins the versions apt offers now for the packages of the lock file, with the sha256 apt's signed index
// gives for them: what make image-lock runs. Nothing is downloaded.
func updateLock(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	old, err := parseLock(file, b)
	if err != nil {
		return err
	}
	var pkgs []pkg
	for _, p := range old {
		spec := p.Name
		if p.Arch != "all" {
			spec += ":" + p.Arch
		}
		cmd := exec.Command("apt-get", "download", "-q", "--print-uris", spec)
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("apt-get download --print-uris %s: %w", spec, err)
		}
		// 'URI' NAME_VERSION_ARCH.deb SIZE SHA256:HEX
		f := strings.Fields(string(out))
		if len(f) != 4 || !strings.HasPrefix(f[3], "SHA256:") {
			return fmt.Errorf("apt-get download --print-uris %s: unexpected output %q", spec, out)
		}
		parts := strings.SplitN(strings.TrimSuffix(f[1], ".deb"), "_", 3)
		if len(parts) != 3 {
			return fmt.Errorf("apt-get download --print-uris %s: unexpected file name %q", spec, f[1])
		}
		pkgs = append(pkgs, pkg{Name: p.Name, Version: strings.ReplaceAll(parts[1], "%3a", ":"), Arch: parts[2], SHA256: strings.TrimPrefix(f[3], "SHA256:")})
	}
	return os.WriteFile(file, formatLock(b, pkgs), 0o644)
}

// fileSHA256 is the hex sha256 of a file's content.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, bufio.NewReader(f)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
