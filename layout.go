package ipcarc

import "fmt"

import "unsafe"

// The segment layout as Go sees it; cshm.h's ipcarc_header and ipcarc_holder
// are the same bytes, and TestLayoutMatchesC holds the two views together.
// LAYOUT.md is the byte-level reference.

const (
	magic         = 0x0000637261637069 // the bytes "ipcarc\0\0" little-endian
	magicV1       = 0x0000636172637069 // layout 1's magic (its bytes read "ipcrac\0\0")
	layoutVersion = 2
	headerSize    = 512
	holderSize    = 256
	mutexOffset   = 128
	tableMutexOff = 256
	maxHandles    = 1 << 30
	nilSlot       = 0xffffffff

	stateInit  = 0
	stateReady = 1
	stateDead  = 2

	flagPoisoned        = 1
	flagOwnerDeadUnseen = 2

	lifetimeLastClose    = 0
	lifetimeUntilRemoved = 1

	slotFree = 0
	slotUsed = 1

	holdSample = 64 // one hold in this many is timed (IPCARC_HOLD_SAMPLE)

	shapeValue = 0 // one value (every segment made before shapes)
	shapeSlice = 1 // capacity elements, Len of them in use

	liveTIDMask   = 0x3fffffff
	liveOwnerDied = 0x40000000
)

// Limits of the layout that cshm.c's validate checks (IPCARC_MAX_ALIGN, IPCARC_MIN_VALUE_ALIGN, the value size cap,
// IPCARC_INIT_LOCK_OFFSET). TestInspectValidatesLikeC holds the two together.
const (
	maxValueAlign  = 4096
	minValueAlign  = 64
	maxValueSize   = 1 << 46
	initLockOffset = 0
	// The robust futex word of a pthread mutex: the owner's tid, and the bit
	// the kernel sets when the owner died (the liveness words use the same).
	futexTIDMask   = liveTIDMask
	futexOwnerDied = liveOwnerDied
	// glibc's pthread_mutex_t starts with int __lock (the robust futex
	// word), unsigned __count, int __owner on every 64-bit architecture.
	mutexOwnerOffset = 8
)

// header is the first 512 bytes of every segment.
type header struct {
	Magic      uint64
	Version    uint32
	ABI        uint32 // arch<<24 | pointer size<<16 | sizeof(pthread_mutex_t)
	State      uint32 // atomic
	Flags      uint32 // atomic
	TotalSize  uint64
	ValueSize  uint64
	ValueAlign uint32
	MaxHolders uint32
	TypeTag    uint64
	ValueOff   uint64
	HoldersOff uint64
	Seq        uint32 // atomic: seqlock and futex word
	Waiters    uint32 // atomic
	Lifetime   uint32
	CreatorPID uint32
	CreatedNs  uint64
	Shape      uint32 // shapeValue or shapeSlice, fixed
	Reserved1  uint32
	Capacity   uint64 // a slice's capacity in elements, fixed (0 for one value)
	Len        uint64 // atomic: a slice's length; written only under the value lock while Seq is odd
	Reserved4  uint64
	Mutex      [64]byte // the value's pthread_mutex_t; its first int is the robust futex word (owner tid)
	RefCount   int64    // atomic; changed under the table mutex
	UsedCount  uint32
	FreeHead   uint32
	UsedHead   uint32
	UsedTail   uint32
	Repairs    uint32
	Reserved2  uint32
	Reserved3  [32]byte
	TableMutex [64]byte // the holder table's pthread_mutex_t
	Totals     counters // counts of departed attachments and segment-wide events
}

// counters is ipcarc_counters: 24 u64s, in each slot (that attachment's
// counts) and in the header (Totals). See Counters for their meaning.
type counters struct {
	Acquisitions  uint64
	Contended     uint64
	Slept         uint64
	WaitNs        uint64
	WaitMaxNs     uint64
	HoldSamples   uint64
	HoldNs        uint64
	OwnerDeaths   uint64
	Poisoned      uint64
	PoisonCleared uint64
	LoadRetries   uint64
	LoadFallbacks uint64
	Stores        uint64
	Updates       uint64
	Wakeups       uint64
	Reaped        uint64
	Reserved      [8]uint64
}

// holder is one slot of the holder table at HoldersOff.
type holder struct {
	State      uint32
	Handles    uint32
	Live       uint32 // atomic: robust futex word of the holder's keeper thread
	Waiters    uint32 // atomic: this attachment's share of header.Waiters
	RobustNext uint64 // the holder's robust-list entry (a pointer in its address space)
	Prev       uint32
	Next       uint32
	PID        int32
	Reserved1  uint32
	StartTime  uint64
	AttachedNs uint64
	Reserved2  uint64
	Counters   counters // this attachment's counts, on their own cache lines
}

// alive reports whether a liveness word says its holder lives: the keeper's
// thread id is there and the kernel has not marked it dead.
func liveWordAlive(w uint32) bool { return w&liveTIDMask != 0 && w&liveOwnerDied == 0 }

var (
	_ [headerSize - unsafe.Sizeof(header{})]byte
	_ [unsafe.Sizeof(header{}) - headerSize]byte
	_ [holderSize - unsafe.Sizeof(holder{})]byte
	_ [unsafe.Sizeof(holder{}) - holderSize]byte
	_ [mutexOffset - unsafe.Offsetof(header{}.Mutex)]byte
	_ [tableMutexOff - unsafe.Offsetof(header{}.TableMutex)]byte
	_ [192 - unsafe.Sizeof(counters{})]byte
	_ [unsafe.Sizeof(counters{}) - 192]byte
)

// Field names the check of a segment that failed, in an *Error (the C
// layer's enum ipcarc_field, same numbers). Its String is the words error
// messages use.
type Field uint8

// The checks, in the order validation makes them where it does.
const (
	FieldNone       Field = iota
	FieldFile             // not a regular file, or cannot be mapped
	FieldSize             // smaller than the header
	FieldMagic            // not an ipcarc segment
	FieldVersion          // another layout version
	FieldABI              // another architecture, pointer size or pthread_mutex_t
	FieldState            // unknown state, or its creator died before it was ready
	FieldLayout           // total size, offsets or holder count inconsistent
	FieldValueSize        // another size of T
	FieldValueAlign       // another alignment of T
	FieldTypeTag          // another type tag
	FieldRefCount         // reference count out of range
	FieldHolders          // holder table
	FieldMutexKind        // a mutex of another kind than ipcarc makes
	FieldTableLock        // the holder table's lock (timed out)
	FieldValueLock        // the value's lock (timed out)
	FieldInit             // a creator still initialising it
	FieldLifetime         // unknown lifetime
	FieldHandles          // handles per attachment
	FieldEnded            // it existed, but its life is over
	FieldOwner            // owned by an untrusted user
	FieldMode             // writable by others, or by an untrusted group
	FieldShape            // one value or a slice (or an unknown shape word)
	FieldLength           // a slice's length word beyond its capacity
)

// The C layer's codes, as ints (fromErrno takes them from C).
const (
	fieldNone       = int(FieldNone)
	fieldFile       = int(FieldFile)
	fieldSize       = int(FieldSize)
	fieldMagic      = int(FieldMagic)
	fieldVersion    = int(FieldVersion)
	fieldABI        = int(FieldABI)
	fieldState      = int(FieldState)
	fieldLayout     = int(FieldLayout)
	fieldValueSize  = int(FieldValueSize)
	fieldValueAlign = int(FieldValueAlign)
	fieldTypeTag    = int(FieldTypeTag)
	fieldRefCount   = int(FieldRefCount)
	fieldHolders    = int(FieldHolders)
	fieldMutex      = int(FieldMutexKind)
	fieldTableLock  = int(FieldTableLock)
	fieldValueLock  = int(FieldValueLock)
	fieldInit       = int(FieldInit)
	fieldLifetime   = int(FieldLifetime)
	fieldHandles    = int(FieldHandles)
	fieldEnded      = int(FieldEnded)
	fieldOwner      = int(FieldOwner)
	fieldMode       = int(FieldMode)
	fieldShape      = int(FieldShape)
	fieldLength     = int(FieldLength)
)

var fieldNames = [...]string{
	FieldFile: "file type", FieldSize: "file size", FieldMagic: "magic", FieldVersion: "layout version",
	FieldABI: "ABI word", FieldState: "state", FieldLayout: "layout fields", FieldValueSize: "value size",
	FieldValueAlign: "value alignment", FieldTypeTag: "type tag", FieldRefCount: "reference count",
	FieldHolders: "holder table", FieldMutexKind: "mutex kind", FieldTableLock: "holder table lock",
	FieldValueLock: "value lock", FieldInit: "creator still initialising", FieldLifetime: "lifetime",
	FieldHandles: "handles per attachment", FieldEnded: "ended", FieldOwner: "owner", FieldMode: "mode",
	FieldShape: "shape", FieldLength: "slice length",
}

// String is the field's name in words ("mutex kind"); "" for FieldNone.
func (f Field) String() string {
	if int(f) < len(fieldNames) {
		return fieldNames[f]
	}
	return fmt.Sprintf("field %d", uint8(f))
}

// MarshalText writes the field's name, so that JSON shows words.
func (f Field) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// fieldName is the words of a C field code.
func fieldName(f int) string { return Field(f).String() }

// validName applies the name rule before any system call: an optional leading
// slash, then 1-200 bytes of [A-Za-z0-9._-], not "." or "..".
func validName(name string) (string, bool) {
	if len(name) > 0 && name[0] == '/' {
		name = name[1:]
	}
	if len(name) == 0 || len(name) > 200 || name == "." || name == ".." {
		return name, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return name, false
		}
	}
	return name, true
}
