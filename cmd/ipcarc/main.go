// Command ipcarc lists, inspects, garbage-collects and removes the ipcarc
// shared-memory segments in /dev/shm. Run `ipcarc help` for usage and exit
// codes.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipcarc/ipcarc"
)

// Exit codes, documented in helpText.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitRefused = 3
)

const helpText = `ipcarc - manage ipcarc shared-memory segments in /dev/shm

Usage:
  ipcarc ls [--json] [PATTERN...]      list segments (all, or names matching a glob PATTERN)
  ipcarc inspect NAME [--json]         show a segment's header, holder table and
                                       lock counters (since creation)
  ipcarc gc [--dry-run] [NAME|PATTERN...]
                                       reap dead holders' handles; remove segments with no
                                       live holder (unless kept until removed) and half-made
                                       ones (creator died before ready); report segments whose
                                       holder table lock stays held as busy
  ipcarc rm NAME [--force]             remove a segment; refused while it has live holders
                                       unless --force (a file that is not an ipcarc segment
                                       is never removed)
  ipcarc top [--once] [--json] [--interval D] [NAME|PATTERN...]
                                       live view of the segments' locks (all, or the named and
                                       matching ones), refreshed every D (default 1s), most
                                       contended first; --once reads twice, D apart, prints
                                       once and exits; --json prints a JSON array per refresh,
                                       one a line (with --once, a single array)
  ipcarc help                          this text

Files in /dev/shm that are not ipcarc segments are skipped, never changed.
No subcommand ever takes or waits on a segment's value lock. ls, inspect and
top take no lock and attach to nothing; gc waits at most 100ms for a segment's
holder table lock, which library code holds only for a few instructions.
A segment created with WithLifetime(UntilRemoved) shows LIFETIME
until-removed: gc reaps its dead holders but only rm removes it.
Flags may come before or after names; "--" ends flags.

top's columns, per segment, over the last interval: LOCK/S lock acquisitions
per second; CONT% the share that found the lock held; WAIT their mean wait;
MAX-WAIT the longest wait since creation; HOLD the mean hold (one hold in 64
is timed) and HELD% the estimated share of the interval the lock was held;
DEATHS owners that died holding the lock, since creation; WAITERS threads
asleep on the segment; LIVE and DEAD holders; OWNER the thread holding the
lock now and HELD-FOR how long top has seen it hold it ("?": first seen at
this reading, "-": free). inspect shows the counters since creation. top
exits 0 on SIGINT or SIGTERM; on a terminal it redraws the screen, otherwise
it prints one table after another. Its JSON objects hold name, the rates
(interval_ns, locks_per_sec, contended_fraction, mean_wait_ns, max_wait_ns,
mean_hold_ns, held_fraction, ...), contended_per_sec, counters, waiters,
live_holders, dead_holders, locked, lock_owner_tid and held_for_ns (0 when
free, null when the owner was first seen at this reading).

Exit codes:
  0  success
  1  error: a segment is corrupt or could not be read, removed or collected
  2  usage error: unknown command or flag, missing or invalid name
  3  refused: no such segment, or rm without --force while live holders exist
     (or while its creator is still initialising it)

Errors are printed on one line on stderr, naming the segment.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return usage(stderr, "no command")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, helpText)
		return exitOK
	case "ls":
		return cmdLs(args, stdout, stderr)
	case "inspect":
		return cmdInspect(args, stdout, stderr)
	case "gc":
		return cmdGC(args, stdout, stderr)
	case gcOneCmd:
		return runGCOne(args, stdout)
	case "rm":
		return cmdRm(args, stdout, stderr)
	case "top":
		return cmdTop(args, stdout, stderr)
	}
	return usage(stderr, "unknown command "+strconv.Quote(cmd))
}

func usage(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "ipcarc: %s; run 'ipcarc help'\n", msg)
	return exitUsage
}

// parseArgs separates flags from names wherever they appear (so that
// `ipcarc inspect NAME --json` works; package flag stops at the first name).
// A flag that is not boolean (top's --interval) takes the next word as its
// value unless written --flag=value.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, names []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			names = append(names, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			if takesValue(fs, a) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		} else {
			names = append(names, a)
		}
	}
	fs.SetOutput(io.Discard) // our own one-line message instead of flag's usage
	return names, fs.Parse(flags)
}

// takesValue reports whether the flag word a names a non-boolean flag of fs
// given without "=value".
func takesValue(fs *flag.FlagSet, a string) bool {
	n := strings.TrimLeft(a, "-")
	if strings.Contains(n, "=") {
		return false
	}
	f := fs.Lookup(n)
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// fail prints err on one line and returns its exit code.
func fail(stderr io.Writer, err error, hint string) int {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if hint != "" {
		msg += "; " + hint
	}
	fmt.Fprintln(stderr, msg)
	return exitCode(err)
}

func exitCode(err error) int {
	var ce *codeErr
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, ipcarc.ErrInvalidName):
		return exitUsage
	case errors.Is(err, ipcarc.ErrNotExist), errors.Is(err, ipcarc.ErrBusy):
		return exitRefused
	}
	return exitError
}

// worse keeps the exit code that matters most when several segments fail:
// an error outranks a refusal.
func worse(a, b int) int {
	rank := map[int]int{exitOK: 0, exitRefused: 1, exitError: 2, exitUsage: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func isPattern(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// match reports whether name matches one of the glob patterns (all when none).
func match(name string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(strings.TrimPrefix(p, "/"), name); ok {
			return true
		}
	}
	return false
}

func checkPatterns(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("bad pattern %q: %v", p, err)
		}
	}
	return nil
}

func cmdLs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "")
	patterns, err := parseArgs(fs, args)
	if err != nil {
		return usage(stderr, "ls: "+err.Error())
	}
	if err := checkPatterns(patterns); err != nil {
		return usage(stderr, "ls: "+err.Error())
	}
	all, err := ipcarc.List()
	if err != nil {
		return fail(stderr, err, "")
	}
	segs := []ipcarc.SegmentInfo{}
	for _, s := range all {
		if match(s.Name, patterns) {
			segs = append(segs, s)
		}
	}
	if *asJSON {
		return writeJSON(stdout, stderr, segs)
	}
	if len(segs) == 0 {
		return exitOK
	}
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSTATE\tREFCOUNT\tLIVE\tDEAD\tSIZE\tLIFETIME\tLOCK\tCREATED\tNOTE")
	for _, s := range segs {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Name, s.State, s.RefCount,
			s.LiveHolders, s.DeadHolders, s.TotalSize, lifetimeText(s.Lifetime), lockText(s), createdText(s.Created), note(s))
	}
	w.Flush()
	return exitOK
}

func lifetimeText(l string) string {
	if l == "" {
		return "-"
	}
	return l
}

func lockText(s ipcarc.SegmentInfo) string {
	if !s.Locked {
		return "free"
	}
	return "tid " + strconv.Itoa(s.LockOwnerTID)
}

func createdText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

func note(s ipcarc.SegmentInfo) string {
	var parts []string
	if s.Corrupt {
		parts = append(parts, "corrupt: "+s.Reason)
	} else if s.Reason != "" {
		parts = append(parts, s.Reason)
	}
	if s.Poisoned {
		parts = append(parts, "poisoned")
	}
	if s.TableLockOwnerTID != 0 {
		parts = append(parts, "table lock held by tid "+strconv.Itoa(s.TableLockOwnerTID))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(stderr, err, "")
	}
	return exitOK
}

func cmdInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "")
	names, err := parseArgs(fs, args)
	if err != nil {
		return usage(stderr, "inspect: "+err.Error())
	}
	if len(names) != 1 {
		return usage(stderr, "inspect takes exactly one NAME")
	}
	s, err := ipcarc.Inspect(names[0])
	if err != nil {
		return fail(stderr, err, "")
	}
	if *asJSON {
		return writeJSON(stdout, stderr, s)
	}
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	reason := s.Reason
	if reason == "" {
		reason = "-"
	}
	for _, kv := range [][2]string{
		{"name", s.Name}, {"state", s.State}, {"corrupt", yes(s.Corrupt)}, {"reason", reason},
		{"refcount", strconv.FormatInt(s.RefCount, 10)},
		{"live_holders", strconv.Itoa(s.LiveHolders)}, {"dead_holders", strconv.Itoa(s.DeadHolders)},
		{"max_holders", strconv.Itoa(s.MaxHolders)}, {"lifetime", lifetimeText(s.Lifetime)},
		{"locked", yes(s.Locked)}, {"lock_owner_tid", strconv.Itoa(s.LockOwnerTID)},
		{"table_lock_owner_tid", strconv.Itoa(s.TableLockOwnerTID)}, {"waiters", strconv.Itoa(s.Waiters)},
		{"poisoned", yes(s.Poisoned)}, {"version", strconv.FormatUint(s.Version, 10)},
		{"total_size", strconv.FormatUint(s.TotalSize, 10)},
		{"value_size", strconv.FormatUint(s.ValueSize, 10)},
		{"value_align", strconv.FormatUint(uint64(s.ValueAlign), 10)}, {"type_tag", s.TypeTag},
		{"creator_pid", strconv.Itoa(s.CreatorPID)}, {"created", createdText(s.Created)},
	} {
		fmt.Fprintf(w, "%s:\t%s\n", kv[0], kv[1])
	}
	w.Flush()
	writeCounters(stdout, s.Counters)
	if len(s.Holders) > 0 {
		fmt.Fprintln(stdout)
		w = tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(w, "SLOT\tPID\tSTART_TIME\tHANDLES\tALIVE")
		for _, h := range s.Holders {
			fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%s\n", h.Slot, h.PID, h.StartTime, h.Handles, yes(h.Alive))
		}
		w.Flush()
	}
	return exitOK
}

func cmdGC(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gc", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "")
	targets, err := parseArgs(fs, args)
	if err != nil {
		return usage(stderr, "gc: "+err.Error())
	}
	if err := checkPatterns(targets); err != nil {
		return usage(stderr, "gc: "+err.Error())
	}
	code := exitOK
	var results []ipcarc.GCResult
	if len(targets) == 0 {
		// ipcarc.GC's sweep, with gcName's isolation of other users' files.
		segs, err := ipcarc.List()
		if err != nil {
			return fail(stderr, err, "")
		}
		for _, s := range segs {
			if !mayWrite(s.Name) {
				results = append(results, ipcarc.GCResult{Name: s.Name, DryRun: *dryRun, Skipped: true, LiveHolders: s.LiveHolders})
				continue
			}
			r, err := gcName(s.Name, *dryRun)
			if errors.Is(err, ipcarc.ErrNotExist) {
				continue
			}
			results = append(results, r)
		}
	} else {
		// Names are collected as given (and an absent one is reported);
		// patterns select among the segments List finds.
		var patterns []string
		for _, t := range targets {
			if isPattern(t) {
				patterns = append(patterns, t)
				continue
			}
			r, _ := gcName(t, *dryRun)
			results = append(results, r)
		}
		if len(patterns) > 0 {
			segs, err := ipcarc.List()
			if err != nil {
				return fail(stderr, err, "")
			}
			for _, s := range segs {
				if !match(s.Name, patterns) {
					continue
				}
				r, err := gcName(s.Name, *dryRun)
				if errors.Is(err, ipcarc.ErrNotExist) { // closed by its last holder meanwhile
					continue
				}
				results = append(results, r)
			}
		}
	}
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	header := false
	for _, r := range results {
		if r.Err != nil {
			code = worse(code, fail(stderr, r.Err, ""))
			continue
		}
		if !header {
			fmt.Fprintln(w, "NAME\tREAPED\tLIVE\tRESULT")
			header = true
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", r.Name, r.ReapedHandles, r.LiveHolders, gcText(r))
	}
	w.Flush()
	return code
}

// gcText says in words what gc did to one segment.
func gcText(r ipcarc.GCResult) string {
	would := ""
	if r.DryRun {
		would = "would be "
	}
	switch {
	case r.Skipped:
		return "skipped: permission denied (not writable by this user); left alone"
	case r.Busy:
		return "busy: holder table lock held (a process stopped in bookkeeping) or creator at work; left alone"
	case r.Kept && r.ReapedHandles > 0:
		return fmt.Sprintf("%d dead handles %sreaped; kept until removed", r.ReapedHandles, would)
	case r.HalfMade && r.Removed:
		return "half-made (creator died before ready): " + would + "removed"
	case r.HalfMade:
		return "half-made (creator died before ready): left alone"
	case r.Removed && r.ReapedHandles > 0:
		return fmt.Sprintf("%d dead handles %sreaped; no live holder: %sremoved", r.ReapedHandles, would, would)
	case r.Removed:
		return "no live holder: " + would + "removed"
	case r.ReapedHandles > 0:
		return fmt.Sprintf("%d dead handles %sreaped", r.ReapedHandles, would)
	}
	return "ok: nothing to do"
}

func cmdRm(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	force := fs.Bool("force", false, "")
	names, err := parseArgs(fs, args)
	if err != nil {
		return usage(stderr, "rm: "+err.Error())
	}
	if len(names) != 1 {
		return usage(stderr, "rm takes exactly one NAME")
	}
	if err := ipcarc.Remove(names[0], *force); err != nil {
		hint := ""
		if !*force && (errors.Is(err, ipcarc.ErrBusy) || errors.Is(err, ipcarc.ErrCorrupt) ||
			errors.Is(err, ipcarc.ErrIncompatible)) {
			hint = "--force removes it anyway"
		}
		return fail(stderr, err, hint)
	}
	return exitOK
}

// writeCounters writes the "counters:" block of inspect: every field of
// ipcarc.Counters under its JSON name, times also in words.
func writeCounters(stdout io.Writer, c ipcarc.Counters) {
	fmt.Fprintln(stdout, "counters:")
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		val := fmt.Sprint(v.Field(i).Interface())
		if strings.HasSuffix(name, "_ns") && v.Field(i).CanUint() && v.Field(i).Uint() > 0 {
			val += " (" + durText(time.Duration(v.Field(i).Uint())) + ")"
		}
		fmt.Fprintf(w, "  %s:\t%s\n", name, val)
	}
	if est := c.HoldEstimate(); est > 0 {
		fmt.Fprintf(w, "  hold_estimate:\t%s (all acquisitions, from the timed holds)\n", durText(est))
	}
	w.Flush()
}
