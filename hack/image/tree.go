package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"time"
)

// file is one entry of a layer: a regular file (data in memory or src on disk), a symlink or a directory.
type file struct {
	Type byte // tar.TypeReg, tar.TypeSymlink or tar.TypeDir
	Mode int64
	Data []byte
	Src  string // a regular file's content is read from here when Data is nil
	Link string
}

// tree is a file system by absolute slash path ("/usr/bin/marina").
type tree map[string]file

// open reads a regular file's content.
func (f file) open() (io.ReadCloser, error) {
	if f.Src != "" {
		return os.Open(f.Src)
	}
	return io.NopCloser(bytes.NewReader(f.Data)), nil
}

// resolve follows symlinks from p inside t (absolute and relative targets alike) and returns every path it went
// through, p first and the non-link file last; ok is false when a hop is missing or the chain does not end.
func (t tree) resolve(p string) (hops []string, ok bool) {
	for range 40 {
		f, found := t[p]
		if !found {
			return hops, false
		}
		hops = append(hops, p)
		if f.Type != tar.TypeSymlink {
			return hops, true
		}
		if path.IsAbs(f.Link) {
			p = path.Clean(f.Link)
		} else {
			p = path.Join(path.Dir(p), f.Link)
		}
	}
	return hops, false
}

// writeTar writes t as a reproducible tar: entries sorted by path, every parent directory present (0755), owner
// 0:0, modification time mtime, no user or group names, no access or change times.
func (t tree) writeTar(w io.Writer, mtime time.Time) error {
	all := tree{}
	for p, f := range t {
		all[p] = f
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = file{Type: tar.TypeDir, Mode: 0o755}
			}
		}
	}
	names := make([]string, 0, len(all))
	for p := range all {
		names = append(names, p)
	}
	slices.Sort(names)
	tw := tar.NewWriter(w)
	for _, p := range names {
		f := all[p]
		h := &tar.Header{Typeflag: f.Type, Name: strings.TrimPrefix(p, "/"), Mode: f.Mode, ModTime: mtime, Format: tar.FormatPAX}
		switch f.Type {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname = f.Link
		case tar.TypeReg:
			size, err := f.size()
			if err != nil {
				return err
			}
			h.Size = size
		default:
			return fmt.Errorf("%s: unsupported entry type %q", p, f.Type)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if f.Type != tar.TypeReg {
			continue
		}
		r, err := f.open()
		if err != nil {
			return err
		}
		n, err := io.Copy(tw, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if n != h.Size {
			return fmt.Errorf("%s changed while it was written (%d bytes, then %d)", p, h.Size, n)
		}
	}
	return tw.Close()
}

func (f file) size() (int64, error) {
	if f.Src == "" {
		return int64(len(f.Data)), nil
	}
	fi, err := os.Stat(f.Src)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// debTree reads the files and symlinks of a .deb's data archive (through dpkg-deb) whose paths start with one of
// prefixes, and the package's control fields.
func debTree(deb string, prefixes ...string) (tree, []byte, error) {
	control, err := exec.Command("dpkg-deb", "--field", deb).Output()
	if err != nil {
		return nil, nil, fmt.Errorf("dpkg-deb --field %s: %w", deb, err)
	}
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w", deb, err)
	}
	t := tree{}
	tr := tar.NewReader(bufio.NewReader(out))
	var readErr error
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		p := path.Clean("/" + h.Name)
		if !slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(p, pre) }) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				readErr = err
				break
			}
			t[p] = file{Type: tar.TypeReg, Mode: h.Mode & 0o755, Data: b}
		case tar.TypeSymlink:
			t[p] = file{Type: tar.TypeSymlink, Mode: 0o777, Link: h.Linkname}
		}
	}
	_, _ = io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return nil, nil, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %v: %s", deb, err, stderr.Bytes())
	}
	if readErr != nil {
		return nil, nil, fmt.Errorf("%s: %w", deb, readErr)
	}
	return t, control, nil
}
