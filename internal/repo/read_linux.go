package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openBeneath opens p read-only with openat2 calls that the kernel confines to
// the repository (RESOLVE_BENEATH: no "..", no absolute symlink, no symlink out;
// with noSymlinks, no symlink at all). It is os.Root's guarantee in a constant
// number of syscalls instead of one per path component, which matters when validate
// reads tens of thousands of files. A FIFO, socket or device is refused from an
// O_PATH handle, before it is opened for reading (opening a FIFO blocks until a
// writer comes). ok is false when the kernel has no openat2, and the caller falls
// back to os.Root.
func (r *Repo) openBeneath(p string, noSymlinks bool) (fd int, ok bool, err error) {
	if r.rootFD < 0 {
		return -1, false, nil
	}
	resolve := uint64(unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS)
	if noSymlinks {
		resolve |= unix.RESOLVE_NO_SYMLINKS
	}
	pathFD, err := unix.Openat2(r.rootFD, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		return -1, openat2Supported(err), beneathError(p, err, noSymlinks)
	}
	var st unix.Stat_t
	err = unix.Fstat(pathFD, &st)
	unix.Close(pathFD)
	if err != nil {
		return -1, true, fmt.Errorf("%s: %w", p, err)
	}
	if err := checkRegular(p, uint32(st.Mode)); err != nil {
		return -1, true, err
	}
	// O_NONBLOCK: should p be swapped for a FIFO since the check, opening it still returns at once,
	// and readFD refuses it.
	fd, err = unix.Openat2(r.rootFD, p, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK, Resolve: resolve})
	if err != nil {
		return -1, true, beneathError(p, err, noSymlinks)
	}
	return fd, true, nil
}

// openat2Supported is false for the errors that mean openat2 cannot be used here (an old
// kernel, or a seccomp filter), so the caller falls back to os.Root.
func openat2Supported(err error) bool {
	return !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM)
}

// beneathError says why a confined open failed, naming p.
func beneathError(p string, err error, noSymlinks bool) error {
	switch {
	case noSymlinks && errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%s: %w: the path or a directory on it is a symlink; marina does not follow symlinks here", p, ErrBadPath)
	case errors.Is(err, unix.EXDEV), errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%s: %w: the path or a symlink on it leads out of the repository", p, ErrBadPath)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	return fmt.Errorf("%s: %w", p, err)
}

// checkRegular refuses every file type but a regular file, naming what p is.
func checkRegular(p string, mode uint32) error {
	what := ""
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFDIR:
		what = "a directory"
	case unix.S_IFIFO:
		what = "a named pipe (FIFO)"
	case unix.S_IFSOCK:
		what = "a socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		what = "a device"
	default:
		what = "not a regular file"
	}
	return fmt.Errorf("%w: %s is %s; marina reads only regular files: replace it with one or remove it", ErrBadPath, p, what)
}

// readFD reads a regular file of at most max bytes from fd and closes it.
func readFD(fd int, p string, max int64) ([]byte, error) {
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if err := checkRegular(p, st.Mode); err != nil {
		return nil, err
	}
	if st.Size > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, over the %d byte limit", ErrTooLarge, p, st.Size, max)
	}
	// One byte more than the size seen, to notice a file that grows while being read.
	buf := make([]byte, st.Size+1)
	n := 0
	for {
		m, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if m == 0 {
			break
		}
		n += m
		if int64(n) > max {
			return nil, fmt.Errorf("%w: %s grew over the %d byte limit while being read", ErrTooLarge, p, max)
		}
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
	}
	return buf[:n], nil
}

func openRootFD(dir string) int {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

func closeRootFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// statBeneath reports whether p exists, confined like openBeneath and without
// following a final symlink. ok is false when openat2 is unavailable.
func (r *Repo) statBeneath(p string) (exists, ok bool) {
	if r.rootFD < 0 {
		return false, false
	}
	fd, err := unix.Openat2(r.rootFD, p, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	if !openat2Supported(err) {
		return false, false
	}
	if err != nil {
		return false, true
	}
	unix.Close(fd)
	return true, true
}

// openDirBeneath opens directory p confined like openBeneath.
func (r *Repo) openDirBeneath(p string) (f *os.File, ok bool, err error) {
	if r.rootFD < 0 {
		return nil, false, nil
	}
	fd, err := unix.Openat2(r.rootFD, p, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, openat2Supported(err), beneathError(p, err, false)
	}
	return os.NewFile(uintptr(fd), p), true, nil
}

func closeFD(fd int) { unix.Close(fd) }

// fileType is the S_IFMT bits of an os.FileMode, for checkRegular.
func fileType(m fs.FileMode) uint32 {
	switch {
	case m.IsRegular():
		return unix.S_IFREG
	case m.IsDir():
		return unix.S_IFDIR
	case m&fs.ModeNamedPipe != 0:
		return unix.S_IFIFO
	case m&fs.ModeSocket != 0:
		return unix.S_IFSOCK
	case m&fs.ModeDevice != 0:
		return unix.S_IFCHR
	}
	return 0
}
