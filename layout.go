package ipcarc

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

	liveTIDMask   = 0x3fffffff
	liveOwnerDied = 0x40000000
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
	Reserved1  [32]byte
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

// Field codes reported by the C layer (enum ipcarc_field).
const (
	fieldNone = iota
	fieldFile
	fieldSize
	fieldMagic
	fieldVersion
	fieldABI
	fieldState
	fieldLayout
	fieldValueSize
	fieldValueAlign
	fieldTypeTag
	fieldRefCount
	fieldHolders
	fieldMutex
	fieldTableLock
	fieldValueLock
	fieldInit
	fieldLifetime
	fieldHandles
	fieldEnded
	fieldOwner
	fieldMode
)

func fieldName(f int) string {
	switch f {
	case fieldFile:
		return "file type"
	case fieldSize:
		return "file size"
	case fieldMagic:
		return "magic"
	case fieldVersion:
		return "layout version"
	case fieldABI:
		return "ABI word"
	case fieldState:
		return "state"
	case fieldLayout:
		return "layout fields"
	case fieldValueSize:
		return "value size"
	case fieldValueAlign:
		return "value alignment"
	case fieldTypeTag:
		return "type tag"
	case fieldRefCount:
		return "reference count"
	case fieldHolders:
		return "holder table"
	case fieldMutex:
		return "mutex kind"
	case fieldTableLock:
		return "holder table lock"
	case fieldValueLock:
		return "value lock"
	case fieldInit:
		return "creator still initialising"
	case fieldLifetime:
		return "lifetime"
	case fieldHandles:
		return "handles per attachment"
	case fieldEnded:
		return "ended"
	case fieldOwner:
		return "owner"
	case fieldMode:
		return "mode"
	}
	return ""
}

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
