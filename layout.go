package ipcarc

import "unsafe"

// The segment layout as Go sees it; cshm.h's ipcarc_header and ipcarc_holder
// are the same bytes, and TestLayoutMatchesC holds the two views together.
// LAYOUT.md is the byte-level reference.

const (
	magic         = 0x0000636172637069 // "ipcarc\0\0" little-endian
	layoutVersion = 1
	headerSize    = 192
	holderSize    = 32
	mutexOffset   = 128

	stateInit  = 0
	stateReady = 1
	stateDead  = 2

	flagPoisoned        = 1
	flagOwnerDeadUnseen = 2

	slotFree = 0
	slotUsed = 1
)

// header is the first 192 bytes of every segment.
type header struct {
	Magic       uint64
	Version     uint32
	ABI         uint32 // arch<<24 | pointer size<<16 | sizeof(pthread_mutex_t)
	State       uint32 // atomic
	Flags       uint32 // atomic
	TotalSize   uint64
	ValueSize   uint64
	ValueAlign  uint32
	MaxHolders  uint32
	TypeTag     uint64
	ValueOff    uint64
	HoldersOff  uint64
	RefCount    int64  // atomic
	Seq         uint32 // atomic: seqlock and futex word
	Waiters     uint32 // atomic
	Bookkeeping uint32
	CreatorPID  uint32
	CreatedNs   uint64
	Reserved    [24]byte
	Mutex       [64]byte // pthread_mutex_t; its first int is the robust futex word (owner tid)
}

// holder is one slot of the holder table at HoldersOff.
type holder struct {
	Handles   uint32
	State     uint32
	PID       int32
	Waiters   uint32 // atomic: this attachment's share of header.Waiters
	StartTime uint64
	_         uint64
}

var (
	_ [headerSize - unsafe.Sizeof(header{})]byte
	_ [unsafe.Sizeof(header{}) - headerSize]byte
	_ [holderSize - unsafe.Sizeof(holder{})]byte
	_ [unsafe.Sizeof(holder{}) - holderSize]byte
	_ [mutexOffset - unsafe.Offsetof(header{}.Mutex)]byte
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
