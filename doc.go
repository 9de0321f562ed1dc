// Package ipcarc shares one value of a plain-data type T between processes on
// one Linux host, the way Arc<Mutex<T>> shares a value between threads.
//
// A process creates a named POSIX shared-memory segment holding a header, a
// holder table, a robust process-shared pthread mutex and the value; other
// processes attach by name, lock, and read or change the value in place (zero
// copy). Every handle counts; the Close of the last handle, in whatever
// process, unlinks the segment. C programs attach to the same segment through
// libipcarc (ipcarc.h), Rust programs through the crate in rust/ipcarc (see
// LAYOUT.md).
//
//	a, err := ipcarc.New("jobs", Jobs{}, ipcarc.WithMode(0o600)) // creator
//	b, err := ipcarc.Open[Jobs]("jobs")                          // any other process
//	g, err := b.Lock()
//	g.Get().Done++ // *T points into the mapping
//	err = g.Unlock()
//	b.Close(); a.Close() // the last Close unlinks the segment
//
// Readers that only need a snapshot use Load (a seqlock read, no lock, no
// cgo call); writers use Store or Update (one crossing into C); Wait sleeps
// until another process writes.
//
// # Crashes
//
// When a process (or a goroutine's thread) dies holding the lock inside a
// critical section that may write (Lock, Update, Store), the value is
// poisoned. The next Lock, TryLock, LockContext or Update in any process
// returns an error matching ErrOwnerDead and ErrPoisoned: that caller is the
// one to repair. Load, LoadInto, LoadContext, Store and Wait never take that
// news; they see ErrPoisoned. Lock never holds the lock behind an error: on a
// poisoned value it releases it and returns a nil guard. The library makes
// the mutex consistent itself; the poison flag stays set in the segment, and
// every Lock refuses, until Recover repairs the value in place and clears
// the flag for every process. A death while holding the lock only to read (Load's
// locked fallback) changes nothing: the value is not poisoned and the death
// is only counted (Counters.OwnerDeaths). A
// process that dies holding handles (not the lock) is seen dead through its
// slot's liveness word, a robust futex word that the kernel marks when the
// process dies: RefCount stops counting its handles at once, and its slot is
// taken back by Reap, gc, the last Close or an Open that walks past it, so a
// killed process never leaks the segment.
//
// # Slices
//
// Slice[T] shares a slice whose length changes at run time up to a capacity
// fixed at creation (NewSlice, OpenSlice), with the same locks, poison,
// waits and errors as Arc; both embed Handle. The shape is part of the
// segment: Open of a slice, or OpenSlice of one value, is ErrTypeMismatch.
//
// # Lock-free fields
//
// A value made only of sync/atomic integers and bools (atomic.Int32, Int64,
// Uint32, Uint64, Uintptr, Bool; structs and arrays of them) can be changed
// without the lock: Arc.Atomic returns it in place, and every process adds,
// loads, stores and compares-and-swaps its fields at once. A C peer uses
// __atomic builtins or C11 atomics on ipcarc_data, a Rust peer AtomicU64 and
// its kin in a #[repr(C)] struct (IpcArc::atomic): the same sequentially
// consistent operations on the same addresses. Any other field makes Atomic
// fail with ErrUnsupportedType naming it.
//
// The lock still works on such a value, for changes that must go together,
// and owner death and poison concern lock users only: lock-free users keep
// counting. Store replaces the whole value under the lock and can overwrite a
// concurrent lock-free Add. Load returns a snapshot in which each field was
// read atomically, but fields changed lock-free are not consistent with each
// other. Version and Wait see lock-based writes only, unless the lock-free
// writer calls Notify, which moves the version on and wakes every Wait.
//
// # Lifetime
//
// By default a segment lives while any handle is open, in any process (Arc's
// rule): a publisher that creates a value and exits takes it with it.
// WithLifetime(UntilRemoved) keeps it at a count of zero until Remove.
//
// # Caveats
//
//   - Linux only, cgo only: macOS has no robust mutexes. Other builds compile
//     and return ErrUnsupported.
//   - One host only: shared memory does not cross machines.
//   - T must be plain data: numbers, bools, arrays and structs of them, and
//     the sync/atomic integer types. New and Open check this by reflection
//     (ErrUnsupportedType).
//   - Guard.Get's pointer is valid only until Unlock. After Unlock another
//     process may change the value at any moment, and after the last Close
//     the memory is unmapped: keep no *T beyond the critical section.
//   - Lock pins the calling goroutine to its OS thread until Unlock: a pthread
//     mutex belongs to a thread. Unlock from another goroutine returns
//     ErrNotOwner. A goroutine that returns while holding the lock kills its
//     thread, which other lockers see as owner death; but the Go runtime
//     cannot end the main thread and parks it instead, so a goroutine that
//     returns holding the lock on the main thread keeps it held for the life
//     of the process. Calling runtime.LockOSThread in an init function keeps
//     other goroutines off the main thread.
//   - Close must not race with other calls on the same handle; give each
//     goroutine its own Clone.
//   - Open, Clone, Close and Reap never wait on the value's lock. They take
//     the holder table's lock, which library code holds for a few
//     instructions; if a process is stopped (SIGSTOP, a debugger) inside
//     them, the others wait at most WithOpenTimeout and get ErrTimeout.
//   - A child forked without exec inherits no handle: calls on an inherited
//     handle return ErrForked, and the child never keeps its parent's holder
//     alive.
//   - Trust: whoever can write a segment can write into the memory of every
//     process that locks it (its robust mutexes keep glibc's robust-list
//     pointers inside the segment). So Open and OpenOrNew map a segment file
//     only if its owner is this process's effective uid, root, or a uid named
//     by WithTrustedOwners; others may not write it (never accepted); and its
//     group may write it only if WithTrustedGroup names that group. Anything
//     else is ErrUntrusted (and fs.ErrPermission), checked before the file
//     is mapped; OpenOrNew never adopts a name another user took first.
//     WithMode refuses modes that let others write. Within that, bad bytes
//     written by a buggy peer give typed errors, never a crash: bounds come
//     from a private copy taken at attach.
//   - Truncation of a segment's file under live mappings (by a process that
//     may write it) makes the next access to a lost page raise SIGBUS. Info
//     and the command's readers turn it into ErrCorrupt; Load, Lock and Store
//     do not guard (it would cost Load a third of its time).
//   - Version is 31 bits and wraps; Wait compares for inequality only.
//   - A process killed while sleeping in Wait leaves the waiter count raised
//     until it is reaped; until then every write makes one needless wake-up
//     system call.
package ipcarc
