//go:build linux && cgo

package ipcarc

import (
	"fmt"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// validID reports whether id can name a uid or gid (0 .. 2^32-2; 2^32-1
// means "no id" to the kernel).
func validID(id int) bool { return id >= 0 && uint64(id) < math.MaxUint32 }

// trustDetail says, for an error of the trust rule (ipcarc.h, above
// ipcarc_spec), who owns the file, its mode, what is wrong and which option
// would accept it. It reads the file's status again: the C layer judged the
// open file, so a file changed in between is described as it is now. sp nil:
// the default rule (gc).
func trustDetail(name string, sp *spec) string {
	path := filepath.Join(shmDir, name)
	fi, err := os.Lstat(path)
	if err != nil {
		return "the file failed the trust rule (it has changed since: " + err.Error() + ")"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "the file failed the trust rule"
	}
	mode := uint32(fi.Mode().Perm())
	euid := uint32(os.Geteuid())
	var trusted []uint32
	groupOK := false
	if sp != nil {
		trusted = sp.trustedUIDs[:sp.nTrusted]
		groupOK = sp.trustFlags&trustGroup != 0 && sp.trustedGID == st.Gid
	}
	ownerOK := st.Uid == euid || st.Uid == 0 || slices.Contains(trusted, st.Uid)

	var wrong, fix []string
	if !ownerOK {
		wrong = append(wrong, fmt.Sprintf("its owner is not this process's uid %d, root, or a trusted owner", euid))
	}
	switch {
	case mode&0o002 != 0:
		wrong = append(wrong, "others may write it")
		fix = append(fix, fmt.Sprintf("no option accepts a file that others may write: it must be removed (rm %s) and re-made without write permission for others", path))
	case mode&0o020 != 0 && !groupOK:
		wrong = append(wrong, fmt.Sprintf("its group %s may write it", idName(st.Gid, true)))
	}
	if len(fix) == 0 {
		var opts []string
		if !ownerOK {
			opts = append(opts, fmt.Sprintf("WithTrustedOwners(%d)", st.Uid))
		}
		if mode&0o020 != 0 && !groupOK {
			opts = append(opts, fmt.Sprintf("WithTrustedGroup(%d)", st.Gid))
		}
		if len(opts) > 0 {
			fix = append(fix, "if you trust every process that may write it, open with "+strings.Join(opts, " and "))
		}
	}
	if len(wrong) == 0 {
		wrong = append(wrong, "it failed the trust rule when opened (it has changed since)")
	}
	d := fmt.Sprintf("file owned by %s, group %s, mode %04o: %s; whoever may write a segment can write into the memory of every process that locks it (robust-list pointers live in the segment)",
		idName(st.Uid, false), idName(st.Gid, true), mode, strings.Join(wrong, ", and "))
	if len(fix) > 0 {
		d += "; " + strings.Join(fix, "; ")
	}
	return d
}

// idName is "uid 65534 (nobody)", or "uid 3999999" when no user has the id.
func idName(id uint32, group bool) string {
	s := strconv.FormatUint(uint64(id), 10)
	if group {
		if g, err := user.LookupGroupId(s); err == nil {
			return "gid " + s + " (" + g.Name + ")"
		}
		return "gid " + s
	}
	if u, err := user.LookupId(s); err == nil {
		return "uid " + s + " (" + u.Username + ")"
	}
	return "uid " + s
}
