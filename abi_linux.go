//go:build linux

package ipcarc

import (
	"encoding/binary"
	"runtime"
	"unsafe"
)

// The ABI word and the mutex kind in pure Go, for the readers that work
// without cgo (List, Inspect). In a cgo build TestPureGoABIMatchesC holds
// them equal to what the C layer computes.

// glibc's sizeof(pthread_mutex_t) per architecture.
var mutexSize = map[string]uint32{
	"amd64": 40, "arm64": 48, "386": 24, "arm": 24, "riscv64": 40, "ppc64le": 40, "s390x": 40,
}

var archCode = map[string]uint32{
	"amd64": 1, "arm64": 2, "386": 3, "arm": 4, "riscv64": 5, "ppc64le": 6, "s390x": 7,
}

// abiWord is ipcarc_abi(): arch << 24 | sizeof(void *) << 16 | sizeof(pthread_mutex_t).
func abiWord() uint32 {
	return archCode[runtime.GOARCH]<<24 | uint32(unsafe.Sizeof(uintptr(0)))<<16 | mutexSize[runtime.GOARCH]
}

// glibc's __kind of a mutex initialised robust (16), process-shared (128)
// and error-checking (2).
const mutexKind = 2 | 16 | 128

// kindOffset is where glibc keeps __kind in pthread_mutex_t: after __lock,
// __count, __owner (and __nusers on 64-bit).
func kindOffset() int {
	if unsafe.Sizeof(uintptr(0)) == 8 {
		return 16
	}
	return 12
}

// goMutexKindOK is ipcarc_mutex_kind_ok on a header copy: both mutexes are of
// the kind ipcarc creates.
func goMutexKindOK(h *header) bool {
	k := kindOffset()
	return int32(binary.NativeEndian.Uint32(h.Mutex[k:])) == mutexKind &&
		int32(binary.NativeEndian.Uint32(h.TableMutex[k:])) == mutexKind
}
