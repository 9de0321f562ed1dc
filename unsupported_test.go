//go:build !linux || !cgo

package ipcarc

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// Ensure that a build without cgo (or off Linux) compiles and says why it
// cannot work, instead of failing at link time or later.
func TestUnsupportedBuild(t *testing.T) {
	if _, err := New("x", uint64(1)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("New = %v, want ErrUnsupported", err)
	}
	if _, err := Open[uint64]("x"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Open = %v, want ErrUnsupported", err)
	}
	if _, _, err := OpenOrNew("x", uint64(1)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("OpenOrNew = %v, want ErrUnsupported", err)
	}
	// List and Inspect read in pure Go: on Linux they work without cgo.
	if _, err := List(); (runtime.GOOS == "linux") == errors.Is(err, ErrUnsupported) {
		t.Fatalf("List = %v on %s without cgo", err, runtime.GOOS)
	}
	if _, err := GC(); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "CGO_ENABLED=1") {
		t.Fatalf("GC = %v, want ErrUnsupported saying how to build with cgo", err)
	}
}
