//go:build !linux || !cgo

package ipcarc

import "expvar"

// Expvar returns an expvar.Var whose value says that this build is
// unsupported: {"error": MESSAGE}.
func (a *Arc[T]) Expvar() expvar.Var {
	return expvar.Func(func() any {
		return map[string]string{"error": unsupported("expvar", "").Error()}
	})
}

// PublishExpvar returns ErrUnsupported in this build.
func (a *Arc[T]) PublishExpvar(name string) error { return unsupported("publish expvar", "") }
