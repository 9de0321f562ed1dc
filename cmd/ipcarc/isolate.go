package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/ipcarc/ipcarc"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// gc and rm change a segment through the C layer, which maps the file and
// takes its holder table lock. Both are dangerous in memory another user can
// write: glibc's robust mutex keeps robust-list pointers inside the segment
// and writes through them on unlock (a write into our process wherever the
// file's owner points it), and an owner who truncates the file under the
// mapping makes the next access raise SIGBUS, which no Go code can catch
// inside C. The library refuses another user's file outright; root's gc and
// rm do the work for it in a child process (this program, re-executed as root
// with the hidden subcommand below) that drops to the file's owner (uid and
// gid of the file, no supplementary groups) before it opens anything, checks
// that it cannot become root again, and only then calls the library. The
// child can only harm what its owner could harm anyway; a child killed by a
// signal is reported as "the file changed or was corrupted under it" and the
// command goes on. The parent never maps the file. Segments of our own
// effective uid are handled in this process.

const asOwnerCmd = "__as-owner" // hidden: OP UID GID NAME; prints an ownerResult as JSON

// newAsOwnerCmd is the hidden subcommand the parent execs. Its words are
// taken as they come (no flag parsing: NAME may start with "-"), and it
// exits as runAsOwner says, printing nothing else.
func newAsOwnerCmd() *cobra.Command {
	return &cobra.Command{
		Use:                asOwnerCmd + " OP UID GID NAME",
		Hidden:             true,
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return exit(runAsOwner(args, c.OutOrStdout()))
		},
	}
}

// The operations the child does.
const (
	opGC      = "gc"
	opGCDry   = "gc-dry-run"
	opRm      = "rm"
	opRmForce = "rm-force"
)

type ownerResult struct {
	Result   ipcarc.GCResult `json:"result"` // gc's
	Error    string          `json:"error,omitempty"`
	Code     int             `json:"code"`
	Hint     string          `json:"hint,omitempty"`      // rm's hint for the error
	NotExist bool            `json:"not_exist,omitempty"` // the error matches ErrNotExist
	Kind     string          `json:"kind,omitempty"`      // the error's errorCode, for --json
}

// codeErr is an error that carries the exit code its child process chose.
type codeErr struct {
	msg      string
	code     int
	notExist bool
	kind     string // errorCode of the child's error ("changed_under_us" when it died)
}

func (e *codeErr) Error() string { return e.msg }

// Is lets errors.Is(err, ipcarc.ErrNotExist) see through the child.
func (e *codeErr) Is(target error) bool { return e.notExist && target == ipcarc.ErrNotExist }

// foreignOwner returns the owner of the file under name when it must be
// handled by a child running as that owner: this process is root and
// another user owns the file. ok is false otherwise (the library, in this
// process, handles our own files and refuses other users' when we are not
// root).
func foreignOwner(name string) (uid, gid int, ok bool) {
	if os.Geteuid() != 0 {
		return 0, 0, false
	}
	var st syscall.Stat_t
	n := name
	if len(n) > 0 && n[0] == '/' {
		n = n[1:]
	}
	if n == "" || syscall.Lstat(filepath.Join("/dev/shm", n), &st) != nil || st.Uid == 0 {
		return 0, 0, false
	}
	return int(st.Uid), ownerGroup(st.Uid), true
}

// ownerGroup is the group the owner-side child runs as: the owner's primary
// group from the user database, never the file's group (which the owner need
// not belong to: running as it would lend the owner's scribbles a group's
// rights), and nogroup (65534) when the uid has no entry.
func ownerGroup(uid uint32) int {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		if g, err := strconv.Atoi(u.Gid); err == nil {
			return g
		}
	}
	return 65534
}

// ownerChildTimeout bounds how long the parent waits for the owner-side
// child: the file's owner may stop it (SIGSTOP: after the drop, every id of
// the child is the owner's). Each bound is the library's own longest wait
// in that child (gc: 100 ms for a table lock; rm: the 5 s open timeout)
// plus room to start a process.
func ownerChildTimeout(op string) time.Duration {
	if op == opGC || op == opGCDry {
		return 2 * time.Second
	}
	return 7 * time.Second
}

// asOwner runs op on name in a child dropped to uid and gid.
func asOwner(op, name string, uid, gid int) ownerResult {
	what := "remove"
	if op == opGC || op == opGCDry {
		what = "collect"
	}
	exe, err := os.Executable()
	if err != nil {
		return ownerResult{Error: fmt.Sprintf("ipcarc: %s %q: could not %s: cannot find this program to run as the file's owner: %v", op, name, what, err), Code: exitError}
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), ownerChildTimeout(op))
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, asOwnerCmd, op, strconv.Itoa(uid), strconv.Itoa(gid), name)
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return ownerResult{Code: exitError, Kind: "changed_under_us", Error: fmt.Sprintf(
			"ipcarc: %s %q: could not %s: the process acting as its owner (uid %d) did not finish within %v (stopped by the owner?); killed, left alone",
			op, name, what, uid, ownerChildTimeout(op))}
	}
	var res ownerResult
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr == nil && runErr == nil {
		return res
	}
	// The child prints its result last: without one it did not finish. A
	// fault inside C (SIGSEGV through a scribbled robust list, SIGBUS on a
	// truncated file) kills it by the signal, or makes the Go runtime print
	// "[signal SIGBUS ...]" and exit 2.
	how := fmt.Sprint(runErr)
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			how = "died of " + ws.Signal().String()
		}
	}
	if m := goSignal.FindSubmatch(errOut.Bytes()); m != nil {
		how = "died of " + string(m[1]) + string(m[2])
	}
	return ownerResult{Code: exitError, Kind: "changed_under_us", Error: fmt.Sprintf(
		"ipcarc: %s %q: could not %s: the file changed or was corrupted under it (the process acting as its owner, uid %d, %s); left alone",
		op, name, what, uid, how)}
}

// goSignal finds the signal in the Go runtime's report of a fatal fault.
var goSignal = regexp.MustCompile(`\[signal (SIG[A-Z]+)|(?m)^(SIG[A-Z]+): `)

// runAsOwner is the child's side: drop to the owner, then call the library.
func runAsOwner(args []string, stdout io.Writer) int {
	if len(args) != 4 {
		return exitUsage
	}
	op, name := args[0], args[3]
	uid, err1 := strconv.Atoi(args[1])
	gid, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || uid <= 0 || gid < 0 {
		return exitUsage
	}
	var res ownerResult
	if err := dropTo(uid, gid); err != nil {
		res.Error, res.Code = fmt.Sprintf("ipcarc: %s %q: cannot act as the file's owner (uid %d): %v", op, name, uid, err), exitError
		json.NewEncoder(stdout).Encode(res)
		return exitOK
	}
	var err error
	switch op {
	case opGC, opGCDry:
		res.Result, err = ipcarc.GCName(name, dryRunOpt(op == opGCDry)...)
	case opRm, opRmForce:
		err = ipcarc.Remove(name, forceOpt(op == opRmForce)...)
		res.Hint = rmHint(err, op == opRmForce)
	default:
		return exitUsage
	}
	if err != nil {
		res.Error, res.Code, res.NotExist = err.Error(), exitCode(err), errors.Is(err, ipcarc.ErrNotExist)
		res.Kind = errorCode(err)
	}
	json.NewEncoder(stdout).Encode(res)
	return exitOK
}

// dropTo makes every thread of this process uid and gid with no
// supplementary groups (Go applies these calls to all threads on linux), and
// checks that root cannot be regained.
func dropTo(uid, gid int) error {
	if err := syscall.Setgroups([]int{}); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	if syscall.Setresuid(0, 0, 0) == nil {
		return errors.New("root could be regained after dropping privileges")
	}
	r, e, s := unix.Getresuid()
	gr, ge, gs := unix.Getresgid()
	groups, _ := syscall.Getgroups()
	if r != uid || e != uid || s != uid || gr != gid || ge != gid || gs != gid || len(groups) != 0 {
		return fmt.Errorf("ids after dropping: uid %d/%d/%d gid %d/%d/%d groups %v", r, e, s, gr, ge, gs, groups)
	}
	return nil
}

// gcName collects one named segment, in a child running as the file's
// owner when another user owns it.
func gcName(name string, dryRun bool) (ipcarc.GCResult, error) {
	uid, gid, ok := foreignOwner(name)
	if !ok {
		return ipcarc.GCName(name, dryRunOpt(dryRun)...)
	}
	op := opGC
	if dryRun {
		op = opGCDry
	}
	res := asOwner(op, name, uid, gid)
	res.Result.DryRun = dryRun
	if res.Result.Name == "" {
		res.Result.Name = name
	}
	if res.Error != "" {
		res.Result.Err = &codeErr{msg: res.Error, code: res.Code, notExist: res.NotExist, kind: res.Kind}
		return res.Result, res.Result.Err
	}
	return res.Result, nil
}

// removeName removes one named segment, in a child running as the file's
// owner when another user owns it. hint goes with the error.
func removeName(name string, force bool) (hint string, err error) {
	uid, gid, ok := foreignOwner(name)
	if !ok {
		err := ipcarc.Remove(name, forceOpt(force)...)
		return rmHint(err, force), err
	}
	op := opRm
	if force {
		op = opRmForce
	}
	res := asOwner(op, name, uid, gid)
	if res.Error == "" {
		return "", nil
	}
	return res.Hint, &codeErr{msg: res.Error, code: res.Code, notExist: res.NotExist, kind: res.Kind}
}

// rmHint is the hint rm prints with err.
func rmHint(err error, force bool) string {
	if err != nil && !force && (errors.Is(err, ipcarc.ErrBusy) || errors.Is(err, ipcarc.ErrInUse) || errors.Is(err, ipcarc.ErrCorrupt) ||
		errors.Is(err, ipcarc.ErrIncompatible)) {
		return "--force removes it anyway"
	}
	return ""
}

// sweepSkip says why gc's sweep leaves a segment alone ("" when it does
// not): root collects every file (other users' as their owner); any other
// user only its own files that it may write, as ipcarc.GC does.
func sweepSkip(s ipcarc.SegmentInfo) string {
	if os.Geteuid() == 0 {
		return ""
	}
	if s.OwnerUID != os.Geteuid() {
		return fmt.Sprintf("owned by another user (uid %d)", s.OwnerUID)
	}
	if !mayWrite(s.Name) {
		return "permission denied (not writable by this user)"
	}
	return ""
}

// mayWrite is ipcarc.GC's test: may this process open the file for writing?
func mayWrite(name string) bool {
	return unix.Faccessat(unix.AT_FDCWD, filepath.Join("/dev/shm", name), unix.W_OK, unix.AT_EACCESS) == nil
}

func dryRunOpt(dry bool) []ipcarc.AdminOption {
	if dry {
		return []ipcarc.AdminOption{ipcarc.DryRun()}
	}
	return nil
}

func forceOpt(force bool) []ipcarc.AdminOption {
	if force {
		return []ipcarc.AdminOption{ipcarc.Force()}
	}
	return nil
}
