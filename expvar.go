//go:build linux && cgo

package ipcarc

// Expvar returns a function for [expvar.Func] whose value is this handle's
// current [SegmentInfo], read afresh each time the variable is shown (a
// lock-free snapshot, see Info). Publish it yourself:
//
//	expvar.Publish("jobs", expvar.Func(a.Expvar()))
//
// Under /debug/vars it then appears as the SegmentInfo JSON object, with the
// segment's "name", "refcount", "holders", "locked", "poisoned", "version",
// "waiters", "at" and "counters" (the lock counters summed over every process
// that ever attached: "acquisitions", "contended", "slept", "wait_ns",
// "hold_ns", ...; see [Counters]).
//
// Once the handle is closed, or when Info fails, the value is
// {"name": NAME, "error": MESSAGE} instead. The function holds the handle:
// publish a handle that lives as long as the process (expvar has no
// Unpublish), or a Clone of one.
//
// This package does not import expvar: importing ipcarc registers nothing on
// [net/http.DefaultServeMux] and publishes no variable.
//
// [expvar.Func]: https://pkg.go.dev/expvar#Func
func (h *Handle) Expvar() func() any {
	return func() any {
		st, err := h.Info()
		if err != nil {
			return map[string]string{"name": h.name, "error": err.Error()}
		}
		return st
	}
}
