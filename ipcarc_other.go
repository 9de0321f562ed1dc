//go:build !linux || !cgo

package ipcarc

import (
	"context"
	"runtime"
)

// This build has no robust process-shared mutexes (not Linux) or no cgo: the
// package compiles, with the same API (api_check.go holds the two method
// sets together), and every constructor returns ErrUnsupported.

// Handle is what every shape of shared value has in common; unavailable in
// this build.
type Handle struct{}

// Arc is a handle on a shared value; unavailable in this build.
type Arc[T any] struct{ Handle }

// Guard is the lock on an Arc's value; unavailable in this build.
type Guard[T any] struct{}

// Version counts the completed writes to a segment's value, modulo 2^31.
type Version uint32

// After reports whether v is later than w, modulo 2^31.
func (v Version) After(w Version) bool {
	d := (uint32(v) - uint32(w)) & (1<<31 - 1)
	return d != 0 && d < 1<<30
}

func New[T any](name string, value T, opts ...Option) (*Arc[T], error) {
	return nil, unsupported("new", name)
}
func Open[T any](name string, opts ...Option) (*Arc[T], error) {
	return nil, unsupported("open", name)
}
func OpenOrNew[T any](name string, value T, opts ...Option) (*Arc[T], bool, error) {
	return nil, false, unsupported("open or new", name)
}
func (h *Handle) Name() string                                   { return "" }
func (h *Handle) Close() error                                   { return unsupported("close", "") }
func (h *Handle) RefCount() (int, error)                         { return 0, unsupported("refcount", "") }
func (h *Handle) Version() (Version, error)                      { return 0, unsupported("version", "") }
func (h *Handle) Wait(context.Context, Version) (Version, error) { return 0, unsupported("wait", "") }
func (h *Handle) Reap() (int, error)                             { return 0, unsupported("reap", "") }
func (h *Handle) Info() (SegmentInfo, error)                     { return SegmentInfo{}, unsupported("info", "") }
func (a *Arc[T]) Clone() (*Arc[T], error)                        { return nil, unsupported("clone", "") }
func (a *Arc[T]) Lock() (*Guard[T], error)                       { return nil, unsupported("lock", "") }
func (a *Arc[T]) TryLock() (*Guard[T], error)                    { return nil, unsupported("trylock", "") }
func (a *Arc[T]) LockContext(context.Context) (*Guard[T], error) { return nil, unsupported("lock", "") }
func (a *Arc[T]) Load() (T, error)                               { var v T; return v, unsupported("load", "") }
func (a *Arc[T]) LoadContext(context.Context) (T, error)         { var v T; return v, unsupported("load", "") }
func (a *Arc[T]) LoadInto(*T) error                              { return unsupported("load", "") }
func (a *Arc[T]) Store(T) error                                  { return unsupported("store", "") }
func (a *Arc[T]) StoreFrom(*T) error                             { return unsupported("store", "") }
func (a *Arc[T]) Update(func(*T) error) error                    { return unsupported("update", "") }
func (a *Arc[T]) View(func(*T) error) error                      { return unsupported("view", "") }
func (a *Arc[T]) Recover(func(*T) error) error                   { return unsupported("recover", "") }
func (a *Arc[T]) Atomic() (*T, error)                            { return nil, unsupported("atomic", "") }
func (h *Handle) Notify() error                                  { return unsupported("notify", "") }
func (g *Guard[T]) Get() *T                                      { return nil }
func (g *Guard[T]) Unlock() error                                { return unsupported("unlock", "") }
func (g *Guard[T]) UnlockUnchanged() error                       { return unsupported("unlock", "") }

// Slice is a handle on a shared slice; unavailable in this build.
type Slice[T any] struct{ Handle }

// SliceGuard is the lock on a Slice; unavailable in this build.
type SliceGuard[T any] struct{}

func NewSlice[T any](name string, values []T, capacity int, opts ...Option) (*Slice[T], error) {
	return nil, unsupported("new", name)
}
func OpenSlice[T any](name string, opts ...Option) (*Slice[T], error) {
	return nil, unsupported("open", name)
}
func OpenOrNewSlice[T any](name string, values []T, capacity int, opts ...Option) (*Slice[T], bool, error) {
	return nil, false, unsupported("open or new", name)
}
func (s *Slice[T]) Clone() (*Slice[T], error)        { return nil, unsupported("clone", "") }
func (s *Slice[T]) Len() int                         { return 0 }
func (s *Slice[T]) Atomic() ([]T, error)             { return nil, unsupported("atomic", "") }
func (s *Slice[T]) Cap() int                         { return 0 }
func (s *Slice[T]) Load() ([]T, error)               { return nil, unsupported("load", "") }
func (s *Slice[T]) AppendTo(dst []T) ([]T, error)    { return dst, unsupported("load", "") }
func (s *Slice[T]) LoadAt(int) (T, error)            { var v T; return v, unsupported("load", "") }
func (s *Slice[T]) Store([]T) error                  { return unsupported("store", "") }
func (s *Slice[T]) StoreAt(int, T) error             { return unsupported("store", "") }
func (s *Slice[T]) Lock() (*SliceGuard[T], error)    { return nil, unsupported("lock", "") }
func (s *Slice[T]) TryLock() (*SliceGuard[T], error) { return nil, unsupported("trylock", "") }
func (s *Slice[T]) LockContext(context.Context) (*SliceGuard[T], error) {
	return nil, unsupported("lock", "")
}
func (s *Slice[T]) Update(func([]T) ([]T, error)) error  { return unsupported("update", "") }
func (s *Slice[T]) Recover(func([]T) ([]T, error)) error { return unsupported("recover", "") }
func (s *Slice[T]) View(func([]T) error) error           { return unsupported("view", "") }
func (g *SliceGuard[T]) Get() []T                        { return nil }
func (g *SliceGuard[T]) SetLen(int) error                { return unsupported("set length", "") }
func (g *SliceGuard[T]) Unlock() error                   { return unsupported("unlock", "") }
func (g *SliceGuard[T]) UnlockUnchanged() error          { return unsupported("unlock", "") }

// unsupported is the error of every call in a build that cannot work.
func unsupported(op, name string) error {
	detail := "this program was built with cgo off (CGO_ENABLED=0, or no C compiler on PATH): install gcc and build with CGO_ENABLED=1"
	if runtime.GOOS != "linux" {
		detail = "ipcarc needs Linux (robust, process-shared pthread mutexes and /dev/shm); " + runtime.GOOS + " has none"
	}
	return &Error{Op: op, Name: name, Detail: detail, Err: ErrUnsupported}
}

// GC and Remove change segments through the C layer (ipcarc_gc,
// ipcarc_remove), which this build lacks. List and Inspect read in pure Go
// and work on Linux without cgo (admin_read.go); elsewhere admin_nolinux.go
// stubs them.

func GC(...AdminOption) ([]GCResult, error) { return nil, unsupported("gc", "") }

func GCName(name string, opts ...AdminOption) (GCResult, error) {
	err := unsupported("gc", name)
	return GCResult{Name: name, DryRun: buildAdminOptions(opts).dryRun, Err: err}, err
}

func Remove(name string, _ ...AdminOption) error { return unsupported("remove", name) }

// Expvar returns a function for expvar.Func whose value says that this build
// is unsupported: {"error": MESSAGE}.
func (h *Handle) Expvar() func() any {
	return func() any {
		return map[string]string{"error": unsupported("expvar", "").Error()}
	}
}
