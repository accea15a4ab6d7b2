package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openBeneath opens p read-only with one openat2 call that the kernel confines to
// the repository (RESOLVE_BENEATH: no "..", no absolute symlink, no symlink out).
// It is os.Root's guarantee in one syscall instead of one per path component, which
// matters when validate reads tens of thousands of files. ok is false when the kernel
// has no openat2, and the caller falls back to os.Root.
func (r *Repo) openBeneath(p string) (fd int, ok bool, err error) {
	if r.rootFD < 0 {
		return -1, false, nil
	}
	fd, err = unix.Openat2(r.rootFD, p, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case err == nil:
		return fd, true, nil
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
		return -1, false, nil // no openat2 here (old kernel, or a seccomp filter): use os.Root
	case errors.Is(err, unix.EXDEV), errors.Is(err, unix.ELOOP):
		return -1, true, fmt.Errorf("%s: %w: the path or a symlink on it leads out of the repository", p, ErrBadPath)
	case errors.Is(err, unix.ENOENT):
		return -1, true, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	return -1, true, fmt.Errorf("%s: %w", p, err)
}

// readFD reads a regular file of at most max bytes from fd and closes it.
func readFD(fd int, p string, max int64) ([]byte, error) {
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrBadPath, p)
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
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
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
	switch {
	case err == nil:
		return os.NewFile(uintptr(fd), p), true, nil
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
		return nil, false, nil
	case errors.Is(err, unix.EXDEV), errors.Is(err, unix.ELOOP):
		return nil, true, fmt.Errorf("%w: the path or a symlink on it leads out of the repository", ErrBadPath)
	case errors.Is(err, unix.ENOENT):
		return nil, true, fs.ErrNotExist
	}
	return nil, true, err
}
