//go:build !linux || !cgo

package ipcarc

import (
	"errors"
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
	if _, err := List(); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("List = %v, want ErrUnsupported", err)
	}
}
