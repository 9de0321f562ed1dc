//go:build linux && cgo && amd64

package ipcarc

// loadFence: nothing to do on amd64 (see Load).
func loadFence() {}
