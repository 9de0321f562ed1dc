// Command ipcarc lists, inspects, garbage-collects and removes the ipcarc
// shared-memory segments in /dev/shm. Run `ipcarc help` for usage and exit
// codes, `ipcarc help COMMAND` (or `ipcarc COMMAND --help`) for a command's.
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
  ipcarc ls [--json] [--no-headings] [PATTERN...]
                                       list segments (all, or names matching a glob PATTERN)
                                       with their owner and permissions
  ipcarc inspect [--json] NAME         show a segment's header, holder table and
                                       lock counters (since creation)
  ipcarc gc [--dry-run] [--json] [NAME|PATTERN...]
                                       reap dead holders' handles; remove segments with no
                                       live holder (unless kept until removed); report segments
                                       whose holder table lock stays held as busy; a file that
                                       is not an ipcarc segment is reported, never removed
  ipcarc rm [--force] [--json] NAME|PATTERN...
                                       remove segments; each is refused while it has live
                                       holders, is corrupt, or is not an ipcarc segment at all
                                       (another magic, empty, too short) unless --force
  ipcarc top [--once] [--json] [--interval D] [NAME|PATTERN...]
                                       live view of the segments' locks (all, or the named and
                                       matching ones), refreshed every D (default 1s), most
                                       contended first
  ipcarc completion bash|zsh|fish      print a shell completion script
  ipcarc version [--json]              print the version (also: ipcarc --version)
  ipcarc help [COMMAND]                this text, or a command's

Every command takes -h or --help (prints its usage and exits 0); ls, inspect,
gc, rm, top and version take --json. Flags may come before or after names;
"--" ends flags. Quote PATTERNs (globs: * ? [...]) from the shell.

Files in /dev/shm that are not ipcarc segments are skipped, never changed
(only rm --force NAME removes one). As root, gc and rm handle a segment
owned by another user in a child process running as that user, so that the
file's owner cannot reach root's memory through it; if that process dies of
a signal (its owner changed the file under it), the segment is reported as
changed or corrupted (exit 1) and the others are still handled.
No subcommand ever takes or waits on a segment's value lock. ls, inspect and
top take no lock and attach to nothing; gc waits at most 100ms for a segment's
holder table lock, which library code holds only for a few instructions.
A segment created with WithLifetime(UntilRemoved) shows LIFETIME
until-removed: gc reaps its dead holders but only rm removes it.

Exit codes:
  0  success (also -h, --help and --version)
  1  error: a segment is corrupt or could not be read, removed or collected
  2  usage error: unknown command or flag, missing or invalid name
  3  refused: no such segment, or rm without --force while live holders exist
     (or while its creator is still initialising it)
When several segments fail, the exit code is the worst: 2, then 1, then 3.

Errors are printed on one line on stderr, naming the segment; with --json
they are also in the JSON (gc's and rm's "error" fields).
`

// runFunc runs a command on its operands (what is left of its arguments once
// its flags are parsed).
type runFunc func(operands []string, stdout, stderr io.Writer) int

// command is one subcommand. setup defines its flags on fs and returns the
// function that runs it: the flags defined there are also what
// `ipcarc COMMAND --help` lists and what the completion scripts offer. A flag
// with an empty usage is a hidden alias.
type command struct {
	name     string
	synopsis string // what follows "ipcarc NAME" in its usage line
	summary  string // a few words, for the completion scripts
	about    string // its help, between the usage line and the flags
	operands string // what its operands complete to: "segments", "shells", "commands" or ""
	setup    func(fs *flag.FlagSet) runFunc
}

// commands is set in init: help's and completion's setups refer to it.
var commands []*command

func init() {
	commands = []*command{lsCmd, inspectCmd, gcCmd, rmCmd, topCmd, completionCmd, versionCmd, helpCmd}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return usage(stderr, "no command")
	}
	name, args := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, helpText)
		return exitOK
	case "-V", "-version", "--version":
		name = "version"
	case asOwnerCmd:
		return runAsOwner(args, stdout)
	}
	c := lookup(name)
	if c == nil {
		return usage(stderr, "unknown command "+strconv.Quote(name))
	}
	return c.run(args, stdout, stderr)
}

// flagSet returns the command's flags and the function that runs it.
func (c *command) flagSet() (*flag.FlagSet, runFunc) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // our own one-line message instead of flag's usage
	return fs, c.setup(fs)
}

func (c *command) run(args []string, stdout, stderr io.Writer) int {
	fs, run := c.flagSet()
	operands, err := parseArgs(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.writeHelp(stdout)
		return exitOK
	case err != nil:
		return c.usage(stderr, err.Error())
	}
	return run(operands, stdout, stderr)
}

// writeHelp writes `ipcarc NAME --help`: the usage line, the command's text,
// and its flags.
func (c *command) writeHelp(w io.Writer) {
	fs, _ := c.flagSet()
	fmt.Fprintf(w, "Usage: %s\n\n%s\nFlags:\n", strings.TrimSpace("ipcarc "+c.name+" "+c.synopsis), c.about)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, f := range visibleFlags(fs) {
		arg, text := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + arg
			text += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  --%s%s\t%s\n", f.Name, arg, text)
	}
	fmt.Fprintln(tw, "  -h, --help\tprint this help and exit")
	tw.Flush()
	fmt.Fprintln(w, "\nExit codes and the rest: ipcarc help")
}

// visibleFlags are fs's flags but the hidden aliases, by name.
func visibleFlags(fs *flag.FlagSet) []*flag.Flag {
	var out []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if f.Usage != "" {
			out = append(out, f)
		}
	})
	return out
}

func (c *command) usage(stderr io.Writer, msg string) int { return cmdUsage(stderr, c.name, msg) }

// cmdUsage reports a usage error of the command name on one line.
func cmdUsage(stderr io.Writer, name, msg string) int {
	fmt.Fprintf(stderr, "ipcarc: %s: %s; run 'ipcarc %s --help'\n", name, msg, name)
	return exitUsage
}

func usage(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "ipcarc: %s; run 'ipcarc help'\n", msg)
	return exitUsage
}

var helpCmd = &command{
	name: "help", synopsis: "[COMMAND]", summary: "print help", operands: "commands",
	about: `Prints the command's usage and exit codes, or with COMMAND that command's
usage (as ipcarc COMMAND --help does).
`,
	setup: func(fs *flag.FlagSet) runFunc {
		return func(operands []string, stdout, stderr io.Writer) int {
			switch len(operands) {
			case 0:
				fmt.Fprint(stdout, helpText)
				return exitOK
			case 1:
				c := lookup(operands[0])
				if c == nil {
					return usage(stderr, "unknown command "+strconv.Quote(operands[0]))
				}
				c.writeHelp(stdout)
				return exitOK
			}
			return usage(stderr, "help takes at most one COMMAND")
		}
	},
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

// oneLine is err's message on one line.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// fail prints err on one line and returns its exit code.
func fail(stderr io.Writer, err error, hint string) int {
	msg := oneLine(err)
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

var lsCmd = &command{
	name: "ls", synopsis: "[--json] [--no-headings] [PATTERN...]", summary: "list segments", operands: "segments",
	about: `Lists the ipcarc segments in /dev/shm: all, or those whose names match one of
the glob PATTERNs. Columns: NAME; OWNER, the file's owner (user name, or uid
when no user has it); MODE, its permissions (as lsipc's PERMS column shows
them); STATE (init, ready, dead or unknown); REFCOUNT, the handles counted;
LIVE and DEAD holders; SIZE in bytes; LIFETIME (last-close or until-removed);
LOCK (free, or the owner's thread id); CREATED; NOTE (corrupt and why,
poisoned, a held holder table lock). Takes no lock and attaches to nothing.
--json prints a JSON array, [] when none: the fields of ipcarc.SegmentInfo,
with the file's owner_uid, owner and mode ("0600").
`,
	setup: func(fs *flag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print a JSON array of the segments")
		noHead := fs.Bool("no-headings", false, "print no column headings (also --noheadings)")
		fs.BoolVar(noHead, "noheadings", false, "") // lsipc's spelling
		return func(patterns []string, stdout, stderr io.Writer) int {
			if err := checkPatterns(patterns); err != nil {
				return cmdUsage(stderr, "ls", err.Error())
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
			if !*noHead {
				fmt.Fprintln(w, "NAME\tOWNER\tMODE\tSTATE\tREFCOUNT\tLIVE\tDEAD\tSIZE\tLIFETIME\tLOCK\tCREATED\tNOTE")
			}
			for _, s := range segs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Name, dash(s.Owner), permText(s.Mode),
					s.State, s.RefCount, s.LiveHolders, s.DeadHolders, s.TotalSize, lifetimeText(s.Lifetime),
					lockText(s), createdText(s.Created), note(s))
			}
			w.Flush()
			return exitOK
		}
	},
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// permText shows a mode given in octal ("0600") as ls -l and lsipc's PERMS
// column do ("rw-------"), with setuid, setgid and sticky as s/S and t/T.
func permText(mode string) string {
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil {
		return "-"
	}
	b := []byte("rwxrwxrwx")
	for i := range b {
		if m&(1<<(8-i)) == 0 {
			b[i] = '-'
		}
	}
	for _, sp := range []struct {
		bit uint64
		i   int
		c   byte
	}{{0o4000, 2, 's'}, {0o2000, 5, 's'}, {0o1000, 8, 't'}} {
		if m&sp.bit != 0 {
			if b[sp.i] == 'x' {
				b[sp.i] = sp.c
			} else {
				b[sp.i] = sp.c - 'a' + 'A'
			}
		}
	}
	return string(b)
}

func lifetimeText(l string) string {
	if l == "" {
		return "-"
	}
	return l
}

func lockText(s ipcarc.SegmentInfo) string {
	switch {
	case s.Corrupt:
		return "-" // no lock state can be trusted in a segment that fails validation
	case s.LockOwnerDied:
		return "owner died (tid " + strconv.Itoa(s.LockOwnerTID) + ")"
	case !s.Locked:
		return "free"
	}
	return "tid " + strconv.Itoa(s.LockOwnerTID)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// lockedText is inspect's "locked" line: yes, no, "owner died", or "-" for a
// corrupt segment.
func lockedText(s ipcarc.SegmentInfo) string {
	switch {
	case s.Corrupt:
		return "-"
	case s.LockOwnerDied:
		return "owner died (the next locker recovers it)"
	}
	return yes(s.Locked)
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
	if s.Poisoned && !s.Corrupt {
		parts = append(parts, "poisoned")
	}
	if s.LockOwnerDied && !s.Corrupt {
		parts = append(parts, "lock abandoned: its owner (tid "+strconv.Itoa(s.LockOwnerTID)+") died holding it; the next locker recovers it")
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

var inspectCmd = &command{
	name: "inspect", synopsis: "[--json] NAME", summary: "show a segment in detail", operands: "segments",
	about: `Shows every header field of the segment NAME, its file's owner and mode, its
lock counters since creation and its holder table. Takes no lock and attaches
to nothing. --json prints one JSON object: the fields of ipcarc.SegmentInfo.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print a JSON object")
		return func(names []string, stdout, stderr io.Writer) int {
			if len(names) != 1 {
				return cmdUsage(stderr, "inspect", "takes exactly one NAME")
			}
			s, err := ipcarc.Inspect(names[0])
			if err != nil {
				return fail(stderr, err, "")
			}
			if *asJSON {
				return writeJSON(stdout, stderr, s)
			}
			return writeInspect(stdout, s)
		}
	},
}

func writeInspect(stdout io.Writer, s ipcarc.SegmentInfo) int {
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	reason := s.Reason
	if reason == "" {
		reason = "-"
	}
	for _, kv := range [][2]string{
		{"name", s.Name}, {"owner", fmt.Sprintf("%s (uid %d)", dash(s.Owner), s.OwnerUID)},
		{"mode", s.Mode + " (" + permText(s.Mode) + ")"}, {"state", s.State}, {"corrupt", yes(s.Corrupt)}, {"reason", reason},
		{"refcount", strconv.FormatInt(s.RefCount, 10)},
		{"live_holders", strconv.Itoa(s.LiveHolders)}, {"dead_holders", strconv.Itoa(s.DeadHolders)},
		{"max_holders", strconv.Itoa(s.MaxHolders)}, {"lifetime", lifetimeText(s.Lifetime)},
		{"locked", lockedText(s)}, {"lock_owner_tid", strconv.Itoa(s.LockOwnerTID)},
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

var gcCmd = &command{
	name: "gc", synopsis: "[--dry-run] [--json] [NAME|PATTERN...]", summary: "collect dead holders and unused segments",
	operands: "segments",
	about: `Reaps the handles of dead holders, even of segments whose value lock is held,
and removes segments with no live holder left (not those created with
WithLifetime(UntilRemoved): only rm removes them). A file that is not an
ipcarc segment (another magic, empty, too short) and a corrupt segment are
reported as errors and never removed; --dry-run decides exactly as a real
run. Waits at most 100ms for a segment's holder table lock: a segment whose
lock stays held (a process stopped in bookkeeping), or whose creator is
still at work, is reported busy and left alone. As root, a segment owned by
another user is collected by a child process running as that user. Without
names, collects every segment (as another user than root: every one of its
own that it may write; the others are reported skipped); a NAME is
collected as given (and reported when absent), a PATTERN selects among the
segments ls would list. Prints a table
NAME REAPED LIVE RESULT; --json prints a JSON array of the results (the
fields of ipcarc.GCResult, and "error" when one failed).
`,
	setup: func(fs *flag.FlagSet) runFunc {
		dryRun := fs.Bool("dry-run", false, "change nothing: say what would be done")
		asJSON := fs.Bool("json", false, "print a JSON array of the results")
		return func(targets []string, stdout, stderr io.Writer) int {
			if err := checkPatterns(targets); err != nil {
				return cmdUsage(stderr, "gc", err.Error())
			}
			results, err := collect(targets, *dryRun)
			if err != nil {
				return fail(stderr, err, "")
			}
			return writeGC(stdout, stderr, results, *asJSON)
		}
	},
}

// collect runs gc on the targets (every segment when there are none).
func collect(targets []string, dryRun bool) ([]ipcarc.GCResult, error) {
	var results []ipcarc.GCResult
	if len(targets) == 0 {
		// ipcarc.GC's sweep, with gcName's isolation of other users' files.
		segs, err := ipcarc.List()
		if err != nil {
			return nil, err
		}
		for _, s := range segs {
			if reason := sweepSkip(s); reason != "" {
				results = append(results, ipcarc.GCResult{Name: s.Name, DryRun: dryRun, Skipped: true, SkipReason: reason,
					LiveHolders: s.LiveHolders, Kept: s.Lifetime == ipcarc.UntilRemoved.String()})
				continue
			}
			r, err := gcName(s.Name, dryRun)
			if errors.Is(err, ipcarc.ErrNotExist) {
				continue
			}
			results = append(results, r)
		}
		return results, nil
	}
	// Names are collected as given (and an absent one is reported);
	// patterns select among the segments List finds.
	var patterns []string
	for _, t := range targets {
		if isPattern(t) {
			patterns = append(patterns, t)
			continue
		}
		r, _ := gcName(t, dryRun)
		results = append(results, r)
	}
	if len(patterns) > 0 {
		segs, err := ipcarc.List()
		if err != nil {
			return nil, err
		}
		for _, s := range segs {
			if !match(s.Name, patterns) {
				continue
			}
			r, err := gcName(s.Name, dryRun)
			if errors.Is(err, ipcarc.ErrNotExist) { // closed by its last holder meanwhile
				continue
			}
			results = append(results, r)
		}
	}
	return results, nil
}

// gcJSON is one element of `gc --json`.
type gcJSON struct {
	ipcarc.GCResult
	Error string `json:"error,omitempty"` // GCResult.Err, as stderr shows it
}

// writeGC prints the results (each error on its own line on stderr) and
// returns the worst exit code.
func writeGC(stdout, stderr io.Writer, results []ipcarc.GCResult, asJSON bool) int {
	code := exitOK
	out := []gcJSON{}
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	header := false
	for _, r := range results {
		out = append(out, gcJSON{GCResult: r})
		if r.Err != nil {
			code = worse(code, fail(stderr, r.Err, ""))
			out[len(out)-1].Error = oneLine(r.Err)
			continue
		}
		if asJSON {
			continue
		}
		if !header {
			fmt.Fprintln(w, "NAME\tREAPED\tLIVE\tRESULT")
			header = true
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", r.Name, r.ReapedHandles, r.LiveHolders, gcText(r))
	}
	if asJSON {
		return worse(code, writeJSON(stdout, stderr, out))
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
	case r.Skipped && r.SkipReason != "":
		return "skipped: " + r.SkipReason + "; left alone"
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

var rmCmd = &command{
	name: "rm", synopsis: "[--force] [--json] NAME|PATTERN...", summary: "remove segments", operands: "segments",
	about: `Removes each named segment, and each segment that ls lists under a PATTERN.
Processes attached keep sharing the value; new opens no longer find it. A
segment with live holders, one whose creator is still initialising it, a
corrupt one, and a file that is not an ipcarc segment at all (another magic,
empty, too short) are refused unless --force. As root, a segment owned by
another user is removed by a child process running as that user. Prints
nothing for what it removed and
one line on stderr for each name it could not remove; the exit code is the
worst of them. --json prints a JSON array of {"name", "removed", "error"}.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		force := fs.Bool("force", false, "remove segments with live holders, being created, or corrupt, and files that are not segments")
		asJSON := fs.Bool("json", false, "print a JSON array of the results")
		return func(targets []string, stdout, stderr io.Writer) int {
			if len(targets) == 0 {
				return cmdUsage(stderr, "rm", "takes one or more NAMEs or PATTERNs")
			}
			if err := checkPatterns(targets); err != nil {
				return cmdUsage(stderr, "rm", err.Error())
			}
			code, results := remove(targets, *force, stderr)
			if *asJSON {
				return worse(code, writeJSON(stdout, stderr, results))
			}
			return code
		}
	},
}

// rmJSON is one element of `rm --json`.
type rmJSON struct {
	Name    string `json:"name"`
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
}

// remove removes the targets in order, a name as given and a pattern's
// matches among the segments List finds, each at most once. Each failure is
// one line on stderr; code is the worst exit code.
func remove(targets []string, force bool, stderr io.Writer) (code int, results []rmJSON) {
	results = []rmJSON{}
	done := map[string]bool{}
	var listed []ipcarc.SegmentInfo
	one := func(name string, matched bool) {
		done[strings.TrimPrefix(name, "/")] = true
		err, hint := removeName(name, force)
		if matched && errors.Is(err, ipcarc.ErrNotExist) { // removed meanwhile
			return
		}
		res := rmJSON{Name: name, Removed: err == nil}
		if err != nil {
			code = worse(code, fail(stderr, err, hint))
			res.Error = oneLine(err)
		}
		results = append(results, res)
	}
	for _, t := range targets {
		if !isPattern(t) {
			one(t, false)
			continue
		}
		if listed == nil {
			all, err := ipcarc.List()
			if err != nil {
				return worse(code, fail(stderr, err, "")), results
			}
			listed = all
		}
		for _, s := range listed {
			if !done[s.Name] && match(s.Name, []string{t}) {
				one(s.Name, true)
			}
		}
	}
	return code, results
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
