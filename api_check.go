package ipcarc

import "context"

// The method sets of the real build and of the unsupported one (other OS, or
// cgo off) must agree: this file, compiled in both, fails the build of the
// one that drifts. Add a method here when you add it to either.
var (
	_ interface {
		Name() string
		Close() error
		RefCount() (int, error)
		Version() (Version, error)
		Wait(context.Context, Version) (Version, error)
		Reap() (int, error)
		Info() (SegmentInfo, error)
		Expvar() func() any
		Notify() error
	} = (*Handle)(nil)
	_ interface {
		Clone() (*Arc[int], error)
		Lock() (*Guard[int], error)
		TryLock() (*Guard[int], error)
		LockContext(context.Context) (*Guard[int], error)
		Load() (int, error)
		LoadContext(context.Context) (int, error)
		LoadInto(*int) error
		Store(int) error
		StoreFrom(*int) error
		Update(func(*int) error) error
		View(func(*int) error) error
		Recover(func(*int) error) error
		Close() error
		Version() (Version, error)
		Atomic() (*int, error)
	} = (*Arc[int])(nil)
	_ interface {
		Get() *int
		Unlock() error
		UnlockUnchanged() error
	} = (*Guard[int])(nil)
	_ interface {
		Clone() (*Slice[int], error)
		Len() int
		Atomic() ([]int, error)
		Cap() int
		Load() ([]int, error)
		AppendTo([]int) ([]int, error)
		LoadAt(int) (int, error)
		Store([]int) error
		StoreAt(int, int) error
		Lock() (*SliceGuard[int], error)
		TryLock() (*SliceGuard[int], error)
		LockContext(context.Context) (*SliceGuard[int], error)
		Update(func([]int) ([]int, error)) error
		Recover(func([]int) ([]int, error)) error
		View(func([]int) error) error
		Close() error
		Version() (Version, error)
		Wait(context.Context, Version) (Version, error)
		RefCount() (int, error)
		Info() (SegmentInfo, error)
		Reap() (int, error)
	} = (*Slice[int])(nil)
	_ interface {
		Get() []int
		SetLen(int) error
		Unlock() error
		UnlockUnchanged() error
	} = (*SliceGuard[int])(nil)
	_ = NewSlice[int]
	_ = OpenSlice[int]
	_ = OpenOrNewSlice[int]
	_ = Version.After
)
