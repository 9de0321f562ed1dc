//go:build linux && cgo

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipcarc/ipcarc"
)

// volatile are the JSON keys whose values change from run to run (times,
// process and thread ids, the user, build information, measured rates):
// normalise keeps each key and replaces its value with "<key>".
var volatile = map[string]bool{
	"created": true, "at": true, "creator_pid": true, "pid": true, "start_time": true,
	"lock_owner_tid": true, "lock_owner_pid": true, "owner": true, "owner_uid": true,
	"interval_ns": true, "version": true, "revision": true, "time": true, "modified": true, "go_version": true,
}

// normalise rewrites the JSON text s: volatile values replaced, the test's
// segment prefix written SEG, indented as the golden files are.
func normalise(t *testing.T, s, prefix string, extra ...string) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	skip := map[string]bool{}
	for _, k := range extra {
		skip[k] = true
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if volatile[k] || skip[k] {
					x[k] = "<" + k + ">"
				} else {
					x[k] = walk(val)
				}
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case string:
			return strings.ReplaceAll(x, prefix, "SEG")
		}
		return v
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(walk(v)); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// golden compares got with testdata/NAME.golden.json (-update writes it).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once to write it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from %s (a renamed, added or dropped JSON field? rerun with -update if meant):\n--- want\n%s--- got\n%s",
			name, path, want, got)
	}
}

// Ensure that the --json of every subcommand that has a result keeps its
// shape: field names, nesting, and for gc and rm the error code beside the
// message. Volatile values are normalised; everything else must match the
// golden file byte for byte.
func TestJSONGolden(t *testing.T) {
	base := testName(t)
	live, kept, absent := base+"-live", base+"-kept", base+"-absent"
	newSegment(t, live)
	keptSegment(t, kept)
	pattern := base + "-*"

	golden(t, "ls", normalise(t, mustIPC(t, 0, "ls", "--json", pattern).stdout, base))
	golden(t, "inspect", normalise(t, mustIPC(t, 0, "inspect", "--json", live).stdout, base))
	golden(t, "top", normalise(t, mustIPC(t, 0, "top", "--once", "--json", "--interval", "10ms", pattern).stdout, base))
	golden(t, "version", normalise(t, mustIPC(t, 0, "version", "--json").stdout, base))
	// gc: the kept segment has nothing to do, the live one neither; the
	// absent name is refused (exit 3) with code not_found.
	golden(t, "gc", normalise(t, mustIPC(t, 3, "gc", "--dry-run", "--json", live, kept, absent).stdout, base))
	// rm: the live segment is busy, the absent one not found, the kept one
	// removed; the worst is the refusal.
	golden(t, "rm", normalise(t, mustIPC(t, 3, "rm", "--json", live, absent, kept).stdout, base))
	if shmExists(kept) || !shmExists(live) {
		t.Errorf("rm --json: kept left %v (want removed), live left %v (want kept)", shmExists(kept), shmExists(live))
	}
}

// Ensure that the codes are what errorCode says for each library error, on
// a corrupt file too.
func TestJSONErrorCodes(t *testing.T) {
	base := testName(t)
	bad := base + "-notours"
	removeAtEnd(t, bad)
	if err := os.WriteFile(filepath.Join("/dev/shm", bad), []byte("not a segment"), 0o600); err != nil {
		t.Fatal(err)
	}
	var rm []rmJSON
	r := mustIPC(t, 2, "rm", "--json", bad, "bad/name") // a usage error outranks the error
	if err := json.Unmarshal([]byte(r.stdout), &rm); err != nil {
		t.Fatal(err)
	}
	_, corruptErr := ipcarc.Inspect(bad)
	if len(rm) != 2 || rm[0].Code != "corrupt" || rm[1].Code != "invalid_name" || errorCode(corruptErr) != "corrupt" {
		t.Errorf("rm --json of a file that is not a segment and a bad name: %+v; want corrupt, invalid_name", rm)
	}
	if !shmExists(bad) {
		t.Error("rm without --force removed a file that is not a segment")
	}
}

// Ensure that a segment whose name starts with "-" is reachable after "--",
// and only there (before it, the name is a flag: a usage error).
func TestDashName(t *testing.T) {
	name := "-" + testName(t) // not under the shared prefix: removed here
	keptSegment(t, name)
	mustIPC(t, 2, "rm", name)
	mustIPC(t, 0, "inspect", "--json", "--", name)
	if r := mustIPC(t, 0, "ls", "--no-headings", "--", name); !strings.HasPrefix(r.stdout, name+" ") {
		t.Errorf("ls -- %s: %q", name, r.stdout)
	}
	mustIPC(t, 0, "rm", "--", name)
	if shmExists(name) {
		t.Fatalf("ipcarc rm -- %s left it", name)
	}
	var res []rmJSON
	if err := json.Unmarshal([]byte(mustIPC(t, 3, "rm", "--json", "--", name).stdout), &res); err != nil ||
		len(res) != 1 || res[0].Name != name || res[0].Code != "not_found" {
		t.Errorf("rm --json -- %s again: %+v, %v; want not_found", name, res, err)
	}
}
