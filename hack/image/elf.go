package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
)

// libDirs are where the dynamic loader looks for a needed library in the images (Debian's multiarch directories).
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib"}

// elfDeps returns the paths of from that the ELF files roots need to run: the dynamic loader, every needed library
// (recursively) and the symlinks leading to them. It fails when a library is in none of from's directories, or
// when a library lacks a symbol version an ELF file needs from it (a binary linked against a newer libc than the
// image's).
func elfDeps(from tree, roots ...string) ([]string, error) {
	keep := map[string]bool{}
	queue := slices.Clone(roots)
	done := map[string]bool{}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if done[p] {
			continue
		}
		done[p] = true
		f, err := openELF(from[p])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		interp, needed, versions, err := dynamic(f.File)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		var libs []string
		if interp != "" {
			hops, ok := from.resolve(interp)
			if !ok {
				return nil, fmt.Errorf("%s needs the dynamic loader %s, which no locked package ships", p, interp)
			}
			libs = append(libs, hops[len(hops)-1])
			addAll(keep, hops)
		}
		found := map[string]string{}
		for _, name := range needed {
			hops, ok := findLib(from, name)
			if !ok {
				return nil, fmt.Errorf("%s needs %s, which no package of hack/image/debian.lock ships in %v: add the Debian package that does (apt-file search %s), run make image-lock", p, name, libDirs, name)
			}
			addAll(keep, hops)
			found[name] = hops[len(hops)-1]
			libs = append(libs, hops[len(hops)-1])
		}
		for _, need := range versions {
			lib, ok := found[need.Name]
			if !ok {
				continue
			}
			if err := hasVersions(from, lib, need); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
		}
		queue = append(queue, libs...)
	}
	for _, r := range roots {
		delete(keep, r)
	}
	out := make([]string, 0, len(keep))
	for p := range keep {
		out = append(out, p)
	}
	slices.Sort(out)
	return out, nil
}

func addAll(set map[string]bool, ps []string) {
	for _, p := range ps {
		set[p] = true
	}
}

// findLib looks name up in libDirs, as the dynamic loader does (no DT_RUNPATH in what the images hold).
func findLib(from tree, name string) ([]string, bool) {
	for _, d := range libDirs {
		if hops, ok := from.resolve(path.Join(d, name)); ok {
			return hops, true
		}
	}
	return nil, false
}

// hasVersions checks that the library at lib defines every symbol version need asks of it.
func hasVersions(from tree, lib string, need elf.DynamicVersionNeed) error {
	f, err := openELF(from[lib])
	if err != nil {
		return fmt.Errorf("%s: %w", lib, err)
	}
	defer f.Close()
	var defs []elf.DynamicVersion
	if f.SectionByType(elf.SHT_GNU_VERSYM) != nil {
		if defs, err = f.DynamicVersions(); err != nil {
			return fmt.Errorf("%s: %w", lib, err)
		}
	}
	for _, dep := range need.Needs {
		if !slices.ContainsFunc(defs, func(d elf.DynamicVersion) bool { return d.Name == dep.Dep }) {
			return fmt.Errorf("needs %s from %s, which the locked %s lacks: build on a system no newer than the image's Debian, or lock newer packages", dep.Dep, need.Name, lib)
		}
	}
	return nil
}

// dynamic returns an ELF file's interpreter, needed libraries and needed symbol versions.
func dynamic(f *elf.File) (interp string, needed []string, versions []elf.DynamicVersionNeed, err error) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return "", nil, nil, err
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if needed, err = f.ImportedLibraries(); err != nil {
		return "", nil, nil, err
	}
	if f.SectionByType(elf.SHT_GNU_VERSYM) != nil {
		if versions, err = f.DynamicVersionNeeds(); err != nil {
			return "", nil, nil, err
		}
	}
	return interp, needed, versions, nil
}

// elfFile closes the file an ELF file was read from.
type elfFile struct {
	*elf.File
	c io.Closer
}

func (e elfFile) Close() error { return errors.Join(e.File.Close(), e.c.Close()) }

// openELF parses a regular file of a tree as ELF.
func openELF(f file) (elfFile, error) {
	if f.Type != tar.TypeReg {
		return elfFile{}, errors.New("not a regular file")
	}
	var r interface {
		io.ReaderAt
		io.Closer
	}
	if f.Src != "" {
		o, err := os.Open(f.Src)
		if err != nil {
			return elfFile{}, err
		}
		r = o
	} else {
		r = nopCloser{bytes.NewReader(f.Data)}
	}
	ef, err := elf.NewFile(r)
	if err != nil {
		r.Close()
		return elfFile{}, err
	}
	return elfFile{ef, r}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
