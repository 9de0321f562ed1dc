package ipcarc

import (
	"fmt"
	"os"
	"time"
)

// Option configures New, Open and OpenOrNew.
type Option func(*options)

type options struct {
	mode        os.FileMode
	tag         uint64
	tagSet      bool
	openTimeout time.Duration
	maxHolders  int
	lifetime    Lifetime
	// trust: owners and a group accepted besides the caller's euid and root
	trustedUIDs []int
	trustedGID  int
	groupSet    bool
	// creation options given explicitly: Open refuses them, OpenOrNew
	// checks them against an existing segment
	modeSet, maxHoldersSet, lifetimeSet bool
}

// creationOptions names the creation-only options given, for errors.
func (o *options) creationOptions() []string {
	var set []string
	if o.modeSet {
		set = append(set, "WithMode")
	}
	if o.maxHoldersSet {
		set = append(set, "WithMaxHolders")
	}
	if o.lifetimeSet {
		set = append(set, "WithLifetime")
	}
	return set
}

const (
	defaultMode        = 0o600
	defaultOpenTimeout = 5 * time.Second
	// DefaultMaxHolders is the size of the holder table when WithMaxHolders is not given.
	DefaultMaxHolders = 64
	// MaxHolders is the largest holder table a segment may have.
	MaxHolders = 4096
)

func buildOptions(opts []Option) options {
	o := options{mode: defaultMode, openTimeout: defaultOpenTimeout, maxHolders: DefaultMaxHolders}
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// WithMode sets the permission bits of a created segment exactly (the umask
// does not apply). Default 0600. A creation option: Open refuses it
// (ErrInvalidOption), and OpenOrNew that finds the segment already made with
// another mode returns an error matching ErrExist and ErrInvalidOption that
// names both.
//
// A mode that lets others write (0o002) is refused with ErrInvalidOption:
// whoever can write a segment can corrupt the memory of every process
// attached to it, because its robust mutexes keep glibc's robust-list
// pointers inside the segment. Group write is allowed: a group is a trust
// decision, and an opener other than the owner and root attaches to a
// group-writable segment only with WithTrustedGroup naming its group.
func WithMode(m os.FileMode) Option {
	return func(o *options) { o.mode, o.modeSet = m.Perm(), true }
}

// WithTypeTag replaces the type tag derived from T's layout by Tag(s), so that
// C and Rust peers (ipcarc_tag in cshm.h) can reproduce it. Creator and openers
// must agree.
func WithTypeTag(s string) Option {
	return func(o *options) { o.tag, o.tagSet = Tag(s), true }
}

// WithOpenTimeout bounds how long Open and OpenOrNew wait for a creator to
// finish initialising a segment, and how long Open, OpenOrNew, Clone, Close
// and Reap wait for the holder table's lock (which library code holds only
// for a few instructions; a wait ends only if its holder stopped). None of
// them waits on the value's lock. Default 5s. Zero or negative: do not wait
// at all (one try, then ErrTimeout).
func WithOpenTimeout(d time.Duration) Option { return func(o *options) { o.openTimeout = d } }

// WithMaxHolders sets how many attachments (processes, or separate Opens in one
// process) can hold the segment at once. Default 64, at most 4096. A creation
// option, checked as WithMode is.
func WithMaxHolders(n int) Option {
	return func(o *options) { o.maxHolders, o.maxHoldersSet = n, true }
}

// MaxTrustedOwners is how many uids WithTrustedOwners may name in all.
const MaxTrustedOwners = 8

// WithTrustedOwners lets Open and OpenOrNew attach to a segment file owned by
// one of these uids, besides this process's effective uid and root (the only
// owners accepted by default). Name a uid only if you trust every process
// running as it: whoever may write a segment can write into the memory of
// each process that locks it (its robust mutexes keep glibc's robust-list
// pointers in the segment). More than MaxTrustedOwners uids in all, or a
// negative one, is refused with ErrInvalidOption. Ignored by New.
func WithTrustedOwners(uids ...int) Option {
	return func(o *options) { o.trustedUIDs = append(o.trustedUIDs, uids...) }
}

// WithTrustedGroup lets Open and OpenOrNew attach to a segment file whose
// group may write it (mode 0o020, as WithMode(0o660) makes), when the file's
// group is gid. Without it a group-writable file is refused with
// ErrUntrusted. A file that others may write (0o002) is refused whatever the
// options. A negative gid is refused with ErrInvalidOption. Ignored by New.
func WithTrustedGroup(gid int) Option {
	return func(o *options) { o.trustedGID, o.groupSet = gid, true }
}

// Lifetime says when a segment goes away.
type Lifetime uint32

const (
	// LastClose removes the segment when its count of handles reaches zero,
	// in whatever process: the last Close, or the reaping of the last dead
	// holder. The default, as with Rust's Arc.
	LastClose Lifetime = 0
	// UntilRemoved keeps the segment, and the value in it, at a count of
	// zero, until Remove (`ipcarc rm`) takes it away, as POSIX shared memory
	// and Boost.Interprocess do. gc never removes such a segment while it is
	// healthy.
	UntilRemoved Lifetime = 1
)

func (l Lifetime) String() string {
	switch l {
	case LastClose:
		return "last-close"
	case UntilRemoved:
		return "until-removed"
	case LifetimeUnknown:
		return ""
	}
	return fmt.Sprintf("Lifetime(%d)", uint32(l))
}

// LifetimeUnknown is a segment's Lifetime in SegmentInfo when its header
// could not be read; String and JSON write it as "".
const LifetimeUnknown Lifetime = 1<<32 - 1

// MarshalText writes String: "last-close", "until-removed" (or "" unknown).
func (l Lifetime) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (l *Lifetime) UnmarshalText(b []byte) error {
	switch string(b) {
	case "last-close":
		*l = LastClose
	case "until-removed":
		*l = UntilRemoved
	case "":
		*l = LifetimeUnknown
	default:
		var n uint32
		if _, err := fmt.Sscanf(string(b), "Lifetime(%d)", &n); err != nil {
			return fmt.Errorf("ipcarc: unknown lifetime %q", b)
		}
		*l = Lifetime(n)
	}
	return nil
}

// WithLifetime sets when a created segment goes away (default LastClose). A
// creation option, checked as WithMode is.
func WithLifetime(l Lifetime) Option {
	return func(o *options) { o.lifetime, o.lifetimeSet = l, true }
}

// Tag is the 64-bit type tag for a string: FNV-1a 64 over its bytes, as
// ipcarc_tag computes it in C.
func Tag(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
