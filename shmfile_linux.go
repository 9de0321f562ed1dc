//go:build linux

package ipcarc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The raw system calls of inspection. Inspect must never change a segment, so
// it works on its own read-only file description and read-only mapping, and it
// asks about the fallback creator's init lock with F_OFD_GETLK, which takes
// none. Errors come back as
// *os.PathError around the errno, so errors.Is(err, fs.ErrNotExist) and
// friends work.

// shmDir is where glibc's shm_open keeps POSIX shared-memory objects.
const shmDir = "/dev/shm"

type roFile struct {
	path    string
	fd      int
	size    int64
	regular bool
	uid     uint32 // the file's owner
	mode    uint32 // the file's permission bits (with setuid, setgid, sticky)
	mem     []byte // read-only mapping of the file's first bytes, once mapped
}

func openRO(name string) (*roFile, error) {
	path := filepath.Join(shmDir, name)
	// O_NOFOLLOW: a symlink in /dev/shm is not a segment, and following it
	// could read any file. O_NONBLOCK: opening a FIFO someone left there must
	// not hang; it is then refused as not regular.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	return &roFile{path: path, fd: fd, size: st.Size, regular: st.Mode&unix.S_IFMT == unix.S_IFREG,
		uid: st.Uid, mode: st.Mode & 0o7777}, nil
}

// readAt reads len(b) bytes at off; short files give io.ErrUnexpectedEOF.
func (f *roFile) readAt(b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pread(f.fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "read", Path: f.path, Err: err}
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// mapPrefix maps the first n bytes read-only and shared, so that atomic loads
// see what other processes store.
func (f *roFile) mapPrefix(n int) error {
	m, err := unix.Mmap(f.fd, 0, n, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return &os.PathError{Op: "mmap", Path: f.path, Err: err}
	}
	f.mem = m
	return nil
}

// byteLocked reports whether some open file description holds a lock on the
// byte at off. F_OFD_GETLK needs no write access and takes no lock.
func (f *roFile) byteLocked(off int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: off, Len: 1}
	if err := unix.FcntlFlock(uintptr(f.fd), unix.F_OFD_GETLK, &lk); err != nil {
		return false, &os.PathError{Op: "fcntl F_OFD_GETLK", Path: f.path, Err: err}
	}
	return lk.Type != unix.F_UNLCK, nil
}

func (f *roFile) close() {
	if f.mem != nil {
		unix.Munmap(f.mem)
		f.mem = nil
	}
	unix.Close(f.fd)
}

// readHeader reads a private copy of a segment's header (pread, no mapping),
// for the errors that refuse it; false when it cannot be read whole.
func readHeader(name string) (h header, ok bool) {
	f, err := openRO(name)
	if err != nil {
		return h, false
	}
	defer f.close()
	b := unsafe.Slice((*byte)(unsafe.Pointer(&h)), headerSize)
	return h, f.readAt(b, 0) == nil
}

// versionDetail says which layout a segment is, for the error that refuses
// it. A layout-1 segment is told by its magic (its header is shorter).
func versionDetail(name string) string {
	h, ok := readHeader(name)
	if !ok && h.Magic != magicV1 {
		return ""
	}
	v := h.Version
	if h.Magic == magicV1 {
		v = 1
	}
	return fmt.Sprintf("layout version differs: the segment is layout %d, this build reads layout %d", v, layoutVersion)
}

// typeDetail says how a segment's value differs from the opener's T, with
// both numbers, for the error that refuses it. Empty when the header cannot
// be read.
func typeDetail(name string, field int, shape uint32, size uint64, align uint32, tag uint64) string {
	h, ok := readHeader(name)
	if !ok {
		return ""
	}
	switch field {
	case fieldShape:
		return fmt.Sprintf("shape differs: the segment holds %s, this handle wants %s", shapeWords(h.Shape, h.Capacity, h.ValueSize), shapeWords(shape, 0, size))
	case fieldValueSize:
		return fmt.Sprintf("value size differs: the segment holds %d-byte values, this type is %d bytes", h.ValueSize, size)
	case fieldValueAlign:
		return fmt.Sprintf("value alignment differs: the segment's values are %d-byte aligned, this type %d", h.ValueAlign, align)
	case fieldTypeTag:
		return fmt.Sprintf("type tag differs: the segment's is 0x%016x, this type's 0x%016x (WithTypeTag names a type the same way in every language)", h.TypeTag, tag)
	}
	return ""
}

// shapeWords names a shape in an error: "a slice of up to 16 8-byte
// elements" or "one 8-byte value" (capacity 0: not known).
func shapeWords(shape uint32, capacity, size uint64) string {
	switch shape {
	case shapeValue:
		return fmt.Sprintf("one %d-byte value", size)
	case shapeSlice:
		if capacity == 0 {
			return fmt.Sprintf("a slice of %d-byte elements", size)
		}
		return fmt.Sprintf("a slice of up to %d %d-byte elements", capacity, size)
	}
	return fmt.Sprintf("shape %d", shape)
}
