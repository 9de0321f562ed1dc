//go:build !linux || !cgo

package ipcarc

import "context"

// This build has no robust process-shared mutexes (not Linux) or no cgo: the
// package compiles, and every constructor returns ErrUnsupported.

// Arc is a handle on a shared value; unavailable in this build.
type Arc[T any] struct{}

// Guard is the lock on an Arc's value; unavailable in this build.
type Guard[T any] struct{}

func unsupported(op, name string) error { return &Error{Op: op, Name: name, Err: ErrUnsupported} }

func New[T any](name string, value T, opts ...Option) (*Arc[T], error) {
	return nil, unsupported("new", name)
}
func Open[T any](name string, opts ...Option) (*Arc[T], error) {
	return nil, unsupported("open", name)
}
func OpenOrNew[T any](name string, value T, opts ...Option) (*Arc[T], bool, error) {
	return nil, false, unsupported("open or new", name)
}
func (a *Arc[T]) Name() string                                   { return "" }
func (a *Arc[T]) Clone() (*Arc[T], error)                        { return nil, unsupported("clone", "") }
func (a *Arc[T]) Close() error                                   { return unsupported("close", "") }
func (a *Arc[T]) RefCount() (int, error)                         { return 0, unsupported("refcount", "") }
func (a *Arc[T]) Lock() (*Guard[T], error)                       { return nil, unsupported("lock", "") }
func (a *Arc[T]) TryLock() (*Guard[T], error)                    { return nil, unsupported("lock", "") }
func (a *Arc[T]) LockContext(context.Context) (*Guard[T], error) { return nil, unsupported("lock", "") }
func (a *Arc[T]) Load() (T, error)                               { var v T; return v, unsupported("load", "") }
func (a *Arc[T]) LoadContext(context.Context) (T, error)         { var v T; return v, unsupported("load", "") }
func (a *Arc[T]) Store(T) error                                  { return unsupported("store", "") }
func (a *Arc[T]) StoreFrom(*T) error                             { return unsupported("store", "") }
func (a *Arc[T]) LoadInto(*T) error                              { return unsupported("load", "") }
func (a *Arc[T]) Update(func(*T) error) error                    { return unsupported("update", "") }
func (a *Arc[T]) Recover(func(*T) error) error                   { return unsupported("recover", "") }
func (a *Arc[T]) Version() uint64                                { return 0 }
func (a *Arc[T]) Wait(context.Context, uint64) (uint64, error)   { return 0, unsupported("wait", "") }
func (a *Arc[T]) Reap() (int, error)                             { return 0, unsupported("reap", "") }
func (a *Arc[T]) Info() (SegmentInfo, error)                     { return SegmentInfo{}, unsupported("info", "") }

// Stats is Info.
//
// Deprecated: use Info.
func (a *Arc[T]) Stats() (SegmentInfo, error) { return a.Info() }
func (g *Guard[T]) Get() *T                   { return nil }
func (g *Guard[T]) Unlock() error             { return unsupported("unlock", "") }
