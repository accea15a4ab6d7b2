package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marina-dev/marina/internal/prereq"
)

func TestTheLockFileIsParsedOrRefusedWithFileAndLine(t *testing.T) {
	t.Parallel()
	const sum = "ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf"
	for _, tc := range []struct {
		name, lock, err string
		want            []pkg
	}{
		{name: "comments and blank lines are skipped", lock: "# x\n\nlibc6 2.36-9+deb12u14 amd64 " + sum + "\n",
			want: []pkg{{"libc6", "2.36-9+deb12u14", "amd64", sum}}},
		{name: "an epoch is a version", lock: "foo 1:2.0~rc1 all " + sum, want: []pkg{{"foo", "1:2.0~rc1", "all", sum}}},
		{name: "three fields", lock: "# x\nlibc6 2.36 amd64\n", err: "debian.lock:2: want `name version architecture sha256`, got 3 fields"},
		{name: "an uppercase digest", lock: "libc6 2.36 amd64 " + strings.ToUpper(sum), err: "debian.lock:1: \"BA4F"},
		{name: "another architecture", lock: "libc6 2.36 arm64 " + sum, err: "debian.lock:1: architecture \"arm64\""},
		{name: "a package pinned twice", lock: "libc6 2.36 amd64 " + sum + "\nlibc6 2.37 amd64 " + sum, err: "debian.lock:2: libc6 is pinned twice"},
		{name: "a name with a slash", lock: "../x 2.36 amd64 " + sum, err: "is not a Debian package name"},
		{name: "nothing pinned", lock: "# only comments\n", err: "debian.lock: no packages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseLock("debian.lock", []byte(tc.lock))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseLock: error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parseLock = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestTheCommittedLockFileParsesAndKeepsItsCommentsWhenRewritten(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("debian.lock")
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := parseLock("debian.lock", b)
	if err != nil {
		t.Fatal(err)
	}
	if got := formatLock(b, pkgs); !bytes.Equal(got, b) {
		t.Errorf("formatLock changed debian.lock:\n%s", got)
	}
	for _, name := range []string{"ca-certificates", "libc6", "libgcc-s1", "libstdc++6", "gcc-12-base"} {
		if !slices.ContainsFunc(pkgs, func(p pkg) bool { return p.Name == name }) {
			t.Errorf("debian.lock does not pin %s, which the images take files from", name)
		}
	}
}

func FuzzParseLock(f *testing.F) {
	f.Add([]byte("libc6 2.36-9+deb12u14 amd64 ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf\n"))
	f.Add([]byte("# c\n\nx 1 all 00\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := parseLock("debian.lock", b)
		if err != nil {
			return
		}
		again, err := parseLock("debian.lock", formatLock(b, pkgs))
		if err != nil || !reflect.DeepEqual(again, pkgs) {
			t.Fatalf("formatLock(parseLock(%q)) parses as %v, %v; want %v", b, again, err, pkgs)
		}
	})
}

func TestALayerTarIsTheSameWhateverTheOrderAndTheFilesTimes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, []byte("binary"), 0o700); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1765000000, 0)
	build := func(order []string) []byte {
		t.Helper()
		all := tree{
			"/usr/bin/marina": {Type: tar.TypeReg, Mode: 0o755, Src: bin},
			"/etc/passwd":     {Type: tar.TypeReg, Mode: 0o644, Data: []byte("root:x:0:0::/:/sbin/nologin\n")},
			"/lib64/ld.so":    {Type: tar.TypeSymlink, Mode: 0o777, Link: "/lib/ld.so"},
			"/tmp":            {Type: tar.TypeDir, Mode: 0o1777},
		}
		tr := tree{}
		for _, p := range order {
			tr[p] = all[p]
		}
		var buf bytes.Buffer
		if err := tr.writeTar(&buf, mtime); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	first := build([]string{"/usr/bin/marina", "/etc/passwd", "/lib64/ld.so", "/tmp"})
	if err := os.Chtimes(bin, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if second := build([]string{"/tmp", "/lib64/ld.so", "/etc/passwd", "/usr/bin/marina"}); !bytes.Equal(first, second) {
		t.Fatal("the same files gave two different tars")
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(first))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(mtime) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: owner %d:%d (%q:%q), times %v %v %v; want 0:0, no names, only the modification time %v",
				h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime, h.AccessTime, h.ChangeTime, mtime)
		}
	}
	want := []string{"etc/", "etc/passwd", "lib64/", "lib64/ld.so", "tmp/", "usr/", "usr/bin/", "usr/bin/marina"}
	if !slices.Equal(names, want) {
		t.Errorf("entries %v, want %v (sorted, with their parent directories)", names, want)
	}
}

// hostLibs is a tree of this machine's C/C++ runtime where Debian installs it, for the dependency tests: real ELF
// files, as the images' packages hold them.
func hostLibs(t *testing.T) tree {
	t.Helper()
	tr := tree{}
	for _, p := range []string{
		"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libm.so.6",
		"/lib/x86_64-linux-gnu/libgcc_s.so.1", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
	} {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			prereq.Missing(t, "this test reads Debian's amd64 C/C++ runtime from the host: "+err.Error())
		}
		if real != p {
			tr[p] = file{Type: tar.TypeSymlink, Link: filepath.Base(real)}
		}
		tr[filepath.Join(filepath.Dir(p), filepath.Base(real))] = file{Type: tar.TypeReg, Mode: 0o755, Src: real}
	}
	tr["/lib64/ld-linux-x86-64.so.2"] = file{Type: tar.TypeSymlink, Link: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"}
	return tr
}

func TestTheRuntimeLayerKeepsWhatTheELFDependenciesReachAndNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	libs := hostLibs(t)
	root := "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
	stdcxx, _ := libs.resolve(root)
	target := stdcxx[len(stdcxx)-1]

	t.Run("everything reachable, with the symlinks on the way", func(t *testing.T) {
		t.Parallel()
		got, err := elfDeps(libs, target)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6",
			"/lib/x86_64-linux-gnu/libgcc_s.so.1", "/lib/x86_64-linux-gnu/libm.so.6", "/lib64/ld-linux-x86-64.so.2"}
		if !slices.Equal(got, want) {
			t.Errorf("elfDeps(%s) = %v, want %v", target, got, want)
		}
	})
	t.Run("a library no package ships", func(t *testing.T) {
		t.Parallel()
		without := tree{}
		for p, f := range libs {
			if p != "/lib/x86_64-linux-gnu/libgcc_s.so.1" {
				without[p] = f
			}
		}
		_, err := elfDeps(without, target)
		if err == nil || !strings.Contains(err.Error(), target+" needs libgcc_s.so.1, which no package of hack/image/debian.lock ships") {
			t.Fatalf("elfDeps without libgcc_s: %v", err)
		}
	})
	t.Run("a libc without the symbol versions the binary was linked against", func(t *testing.T) {
		t.Parallel()
		old := tree{}
		for p, f := range libs {
			old[p] = f
		}
		// libm defines GLIBC_* versions too, but not the ones libstdc++ needs from libc.
		old["/lib/x86_64-linux-gnu/libc.so.6"] = libs["/lib/x86_64-linux-gnu/libm.so.6"]
		_, err := elfDeps(old, target)
		if err == nil || !strings.Contains(err.Error(), "from libc.so.6, which the locked /lib/x86_64-linux-gnu/libc.so.6 lacks") {
			t.Fatalf("elfDeps with an old libc: %v", err)
		}
	})
}

func TestAPackageThatIsNotThePinnedOneIsRefused(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("0", 64)
	t.Run("a cached .deb with another sha256", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		p := pkg{Name: "libc6", Version: "2.36-9+deb12u14", Arch: "amd64", SHA256: sum}
		if err := os.WriteFile(filepath.Join(dir, p.debName()), []byte("not the package"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := debs(dir, []pkg{p})
		if err == nil || !strings.Contains(err.Error(), "but hack/image/debian.lock pins "+sum+" for libc6 2.36-9+deb12u14: refusing it") {
			t.Fatalf("debs: %v", err)
		}
	})
	t.Run("a version apt does not offer", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("apt-get"); err != nil {
			prereq.Missing(t, "apt-get is needed to download the images' Debian packages")
		}
		_, err := debs(t.TempDir(), []pkg{{Name: "libc6", Version: "0.0-marina-test", Arch: "amd64", SHA256: sum}})
		if err == nil || !strings.Contains(err.Error(), "apt-get download libc6:amd64=0.0-marina-test") || !strings.Contains(err.Error(), "make image-lock") {
			t.Fatalf("debs: %v", err)
		}
	})
}
