//go:build linux && cgo

package ipcarc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Ensure that each refusal carries the numbers a user needs: both sizes, both
// alignments, both tags, both layout versions (TestCorruptSegments), how long
// a timeout waited and for what, and the name rule. The segment is made by
// another process, as a user would meet it.
func TestErrorMessagesCarryTheirNumbers(t *testing.T) {
	name := testName(t)
	t.Cleanup(func() { removeSegment(name) })         // after the child is killed: it is the only holder
	c := startChild(t, "attach", name, "0", "create") // a Counter: 64 bytes, 8-aligned
	c.expect("attached")

	type small struct{ N uint32 }   // 4 bytes, 4-aligned
	type wide struct{ A [4]uint64 } // 32 bytes
	type sameSizeOtherAlign struct{ B [64]byte }
	cases := []struct {
		open  func() error
		want  []string
		is    error
		label string
	}{
		{func() error { _, err := Open[small](name); return err }, []string{"value size differs", "64-byte", "4 bytes"}, ErrTypeMismatch, "size"},
		{func() error { _, err := Open[wide](name); return err }, []string{"value size differs", "64-byte", "32 bytes"}, ErrTypeMismatch, "size"},
		{func() error { _, err := Open[sameSizeOtherAlign](name); return err }, []string{"value alignment differs", "8-byte", "this type 1"}, ErrTypeMismatch, "alignment"},
		{func() error { _, err := Open[Counter](name, WithTypeTag("other.v1")); return err },
			[]string{"type tag differs", fmt.Sprintf("0x%016x", Tag("other.v1"))}, ErrTypeMismatch, "tag"},
	}
	for _, k := range cases {
		err := k.open()
		if !errors.Is(err, k.is) {
			t.Fatalf("%s: Open = %v, want %v", k.label, err, k.is)
		}
		for _, w := range k.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", k.label, err, w)
			}
		}
	}

	// A timeout says how long it waited and for what. The other process
	// holds the holder table's lock stopped: not possible without a fault
	// build, so wait for a creator that never finishes instead: an empty file
	// younger than 2 s looks like a fallback creator at work.
	young := testName(t)
	writeImage(t, young, nil)
	_, err := Open[Counter](young, WithOpenTimeout(150*time.Millisecond))
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "150ms") || !strings.Contains(err.Error(), "creator") {
		t.Errorf("Open of a segment being created = %v; want ErrTimeout saying it waited 150ms for its creator", err)
	}

	_, err = Open[Counter]("bad/name")
	if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), "1 to 200 bytes") {
		t.Errorf("Open of a bad name = %v; want ErrInvalidName stating the rule", err)
	}
}

// Ensure that Open of a segment whose only holder just died says the segment
// existed and why it is gone, not only that it does not exist.
func TestOpenAfterLastHolderDiedSaysWhy(t *testing.T) {
	name := testName(t)
	t.Cleanup(func() { removeSegment(name) })
	c := startChild(t, "attach", name, "0", "create")
	c.expect("attached")
	c.kill()
	_, err := Open[Counter](name)
	if !errors.Is(err, ErrNotExist) || !strings.Contains(err.Error(), "last holder closed or died") ||
		!strings.Contains(err.Error(), "UntilRemoved") {
		t.Fatalf("Open after the only holder died = %v; want ErrNotExist saying its last holder died and how to keep a segment", err)
	}
	if shmExists(name) {
		t.Fatal("the dead segment's name is still there")
	}
}
