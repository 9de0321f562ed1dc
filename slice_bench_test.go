//go:build linux && cgo

package ipcarc

import "testing"

// Slice benchmarks, each beside its floor (run with -count 5; `make bench`
// and cmd/benchreport pair them):
//   - BenchmarkSliceLoadAt8 vs c_lock_memcpy_out_8 (C: lock, copy one 8-byte
//     element out, unlock); goal ≤ 0.3×. c_ipcarc_slice_get_8 is C's own
//     lock-free ipcarc_slice_get.
//   - BenchmarkSliceAppendTo64K vs BenchmarkGoCopy64K (a Go copy of 64 KiB);
//     goal ≥ 0.8× of its speed.
//   - BenchmarkSliceStore4K vs BenchmarkCgoFloor + c_lock_memcpy_in_4096
//     (one cgo call, C lock, memcpy of 4 KiB, unlock); goal ≤ 1.2×.
//     c_ipcarc_slice_store_4096 is ipcarc_slice_store timed in C.

func benchSlice[T any](b *testing.B, values []T, capacity int) *Slice[T] {
	b.Helper()
	s, err := NewSlice(testName(b), values, capacity)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}

var sinkU64 uint64

func BenchmarkSliceLoadAt8(b *testing.B) {
	s := benchSlice(b, make([]uint64, 16), 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := s.LoadAt(i & 15)
		if err != nil {
			b.Fatal(err)
		}
		sinkU64 += v
	}
}

var sinkBytes []byte

func BenchmarkSliceAppendTo64K(b *testing.B) {
	s := benchSlice(b, make([]byte, 64<<10), 64<<10)
	buf := make([]byte, 0, 64<<10)
	b.SetBytes(64 << 10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = s.AppendTo(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	sinkBytes = buf
}

func BenchmarkGoCopy64K(b *testing.B) {
	src := make([]byte, 64<<10)
	dst := make([]byte, 0, 64<<10)
	b.SetBytes(64 << 10)
	for i := 0; i < b.N; i++ {
		dst = append(dst[:0], src...)
	}
	sinkBytes = dst
}

func BenchmarkSliceStore4K(b *testing.B) {
	s := benchSlice(b, []uint64(nil), 512)
	src := make([]uint64, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Store(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCSliceFloorsInC: the C floors of the slice benchmarks, timed in
// bench/cbase in this same run.
func BenchmarkCSliceFloorsInC(b *testing.B) {
	exe := cbase(b)
	for _, name := range []string{"c_lock_memcpy_out_8", "c_ipcarc_slice_get_8", "c_lock_memcpy_in_4096", "c_ipcarc_slice_store_4096"} {
		b.Run(name, func(b *testing.B) {
			ns := runCBase(b, exe, name, b.N)
			b.ReportMetric(ns, "ns/op")
		})
	}
}
