//go:build linux && cgo && !amd64

package ipcarc

import "sync/atomic"

// loadFence orders the seqlock copy's plain loads before the re-read of the
// sequence word: an atomic read-modify-write is a full barrier on every
// architecture Go supports (see Load).
func loadFence() {
	var x uint32
	atomic.AddUint32(&x, 1)
}
