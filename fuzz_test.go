//go:build linux && cgo

package ipcarc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"
)

// fuzzErrors are the outcomes an Open of arbitrary bytes may have.
var fuzzErrors = []error{ErrCorrupt, ErrIncompatible, ErrTypeMismatch, ErrTimeout, ErrNotExist, ErrTooManyHolders}

// Ensure that Open of any bytes is a typed error or a working handle: never a
// panic, a hang or a fault. testdata/fuzz/FuzzOpen holds seeds that damage
// each header field of a real segment; `make fuzz` explores further.
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		name := testName(t)
		path := filepath.Join("/dev/shm", name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		done := make(chan struct{})
		go func() {
			defer close(done)
			a, err := Open[Counter](name, WithOpenTimeout(20*time.Millisecond))
			if err != nil {
				for _, want := range fuzzErrors {
					if errors.Is(err, want) {
						return
					}
				}
				t.Errorf("Open = %v: not one of the typed errors", err)
				return
			}
			// A handle: it must work.
			if _, err := a.Load(); err != nil && !errors.Is(err, ErrPoisoned) {
				t.Errorf("Load on an opened fuzz segment: %v", err)
			}
			if g, err := a.TryLock(); g != nil {
				g.Get().N++
				g.Unlock()
			} else if !errors.Is(err, ErrWouldBlock) {
				t.Errorf("TryLock: %v", err)
			}
			if err := a.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Open/use of a fuzzed segment hung")
		}
	})
}

// fuzzSeeds: a valid segment image and one variant per header field.
func fuzzSeeds(tb testing.TB) [][]byte {
	name := testName(tb)
	a, err := New(name, Counter{N: 1}, WithMaxHolders(2)) // a small image: 1,088 bytes
	if err != nil {
		tb.Fatal(err)
	}
	valid, err := os.ReadFile(filepath.Join("/dev/shm", name))
	a.Close()
	if err != nil {
		tb.Fatal(err)
	}
	// As a live segment would be: ready, no holders (the seed file has none).
	h := (*header)(unsafe.Pointer(&valid[0]))
	h.State, h.RefCount = stateReady, 0
	clear(valid[headerSize:h.ValueOff])
	set := func(off uintptr, v uint64, size int) []byte {
		b := append([]byte(nil), valid...)
		switch size {
		case 4:
			binary.LittleEndian.PutUint32(b[off:], uint32(v))
		case 8:
			binary.LittleEndian.PutUint64(b[off:], v)
		}
		return b
	}
	var hh header
	var hd holder
	seeds := [][]byte{
		valid, {}, valid[:8], valid[:headerSize-1], valid[:headerSize], append(append([]byte(nil), valid...), 0),
		set(unsafe.Offsetof(hh.Magic), 0, 8),
		set(unsafe.Offsetof(hh.Version), 1, 4),
		set(unsafe.Offsetof(hh.Version), 3, 4),
		set(unsafe.Offsetof(hh.Magic), magicV1, 8),
		set(unsafe.Offsetof(hh.Lifetime), 7, 4),
		set(unsafe.Offsetof(hh.ABI), 0, 4),
		set(unsafe.Offsetof(hh.State), stateInit, 4),
		set(unsafe.Offsetof(hh.State), stateDead, 4),
		set(unsafe.Offsetof(hh.State), 9, 4),
		set(unsafe.Offsetof(hh.Flags), flagPoisoned, 4),
		set(unsafe.Offsetof(hh.TotalSize), 1<<63, 8),
		set(unsafe.Offsetof(hh.ValueSize), 1<<62, 8),
		set(unsafe.Offsetof(hh.ValueAlign), 3, 4),
		set(unsafe.Offsetof(hh.MaxHolders), 1<<20, 4),
		set(unsafe.Offsetof(hh.MaxHolders), 0, 4),
		set(unsafe.Offsetof(hh.TypeTag), 1, 8),
		set(unsafe.Offsetof(hh.ValueOff), 8, 8),
		set(unsafe.Offsetof(hh.HoldersOff), 0, 8),
		set(unsafe.Offsetof(hh.RefCount), 1<<63, 8),
		set(unsafe.Offsetof(hh.RefCount), 5, 8),
		set(unsafe.Offsetof(hh.Seq), 1, 4),
		set(unsafe.Offsetof(hh.Waiters), 3, 4),
		set(unsafe.Offsetof(hh.FreeHead), 4096, 4),
		set(unsafe.Offsetof(hh.UsedHead), 0, 4),
		set(unsafe.Offsetof(hh.Mutex), 1, 4),              // locked by pid 1
		set(unsafe.Offsetof(hh.Mutex)+16, 0, 4),           // mutex kind
		set(headerSize+unsafe.Offsetof(hd.State), 1, 4),   // used slot without handles
		set(headerSize+unsafe.Offsetof(hd.Handles), 7, 4), // handles in a free slot
	}
	both := set(headerSize+unsafe.Offsetof(hd.State), 1, 4)
	binary.LittleEndian.PutUint32(both[headerSize+unsafe.Offsetof(hd.Handles):], 2)
	seeds = append(seeds, both) // a dead holder with 2 handles and refcount 0
	return seeds
}

// writeFuzzSeeds writes the seeds to testdata/fuzz/FuzzOpen (they are
// committed; regenerate after a layout change with
// IPCARC_WRITE_SEEDS=1 go test -run '^$' .).
func writeFuzzSeeds() error {
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var tb testing.T
	for i, s := range fuzzSeeds(&tb) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}
