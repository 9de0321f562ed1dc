//go:build !linux || !cgo

package ipcarc

// Expvar returns a function for expvar.Func whose value says that this build
// is unsupported: {"error": MESSAGE}.
func (h *Handle) Expvar() func() any {
	return func() any {
		return map[string]string{"error": unsupported("expvar", "").Error()}
	}
}
