//go:build linux && cgo

package ipcarc

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Ensure that the pure-Go ABI word and mutex-kind check, used by List and
// Inspect in a build without cgo, agree with the C layer's.
func TestPureGoABIMatchesC(t *testing.T) {
	if abiWord() != cABI() {
		t.Fatalf("pure Go ABI word 0x%08x, C's 0x%08x", abiWord(), cABI())
	}
	name := testName(t)
	a := mustNew(t, name, Counter{})
	var hb [headerSize]byte
	copy(hb[:], unsafe.Slice((*byte)(unsafe.Pointer(a.hdr)), headerSize))
	h := (*header)(unsafe.Pointer(&hb[0]))
	if !goMutexKindOK(h) || !mutexKindOK(h) {
		t.Fatalf("a fresh segment's mutexes: Go says %v, C says %v; want both ok", goMutexKindOK(h), mutexKindOK(h))
	}
	for _, off := range []int{kindOffset(), tableMutexOff - mutexOffset + kindOffset()} {
		b := hb
		b[mutexOffset+off] ^= 0x40
		hh := (*header)(unsafe.Pointer(&b[0]))
		if goMutexKindOK(hh) || mutexKindOK(hh) {
			t.Fatalf("a changed kind at mutex byte %d: Go says %v, C says %v; want both refused", off, goMutexKindOK(hh), mutexKindOK(hh))
		}
	}
}

// Ensure that a CGO_ENABLED=0 build of the command lists and inspects a
// segment that a cgo process made, exactly as the library reads it, and that
// gc and rm say they need cgo and how to get it.
func TestCLIWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command without cgo: make test runs it")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = goFromEnv()
	}
	exe := filepath.Join(t.TempDir(), "ipcarc-nocgo")
	cmd := exec.Command(gotool, "build", "-o", exe, "./cmd/ipcarc")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/ipcarc: %v\n%s", err, out)
	}
	if out, _ := exec.Command("go", "version", "-m", exe).CombinedOutput(); !strings.Contains(string(out), "CGO_ENABLED=0") {
		t.Fatalf("the binary was not built without cgo:\n%s", out)
	}

	name := testName(t)
	a := mustNew(t, name, Counter{N: 3})
	c := startChild(t, "attach", name, "2")
	c.expect("attached")
	want, err := Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	ignore := cmpopts.IgnoreFields(SegmentInfo{}, "At")

	r := mustCLI(t, exe, 0, "inspect", name, "--json")
	var got SegmentInfo
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	if d := cmp.Diff(want, got, ignore); d != "" {
		t.Fatalf("inspect without cgo differs from the library's Inspect (-lib +cli):\n%s", d)
	}
	var all []SegmentInfo
	r = mustCLI(t, exe, 0, "ls", "--json", name)
	if err := json.Unmarshal([]byte(r.stdout), &all); err != nil || len(all) != 1 {
		t.Fatalf("ls --json: %v, %d segments\n%s", err, len(all), r.stdout)
	}
	if d := cmp.Diff(want, all[0], ignore); d != "" {
		t.Fatalf("ls without cgo differs from the library's Inspect (-lib +cli):\n%s", d)
	}
	for _, args := range [][]string{{"gc", name}, {"rm", name}} {
		r := runCLI(t, exe, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "CGO_ENABLED=1") {
			t.Errorf("ipcarc %v without cgo: exit %d, stderr %q; want exit 1 saying to build with CGO_ENABLED=1", args, r.code, r.stderr)
		}
	}
	if !shmExists(name) {
		t.Fatal("the segment went away")
	}
	a.Close()
}
