//go:build linux && cgo

package ipcarc

import (
	"expvar"
	"fmt"
	"sync"
)

// Expvar returns an [expvar.Var] whose value is this handle's current
// [SegmentInfo], read afresh each time the variable is shown (a lock-free snapshot,
// see Info): under /debug/vars it appears as the SegmentInfo JSON object, with the
// segment's "name", "refcount", "holders", "locked", "poisoned", "version",
// "waiters", "at" and "counters" (the lock counters summed over every
// process that ever attached: "acquisitions", "contended", "slept",
// "wait_ns", "hold_ns", ...; see [Counters]).
//
// Once the handle is closed, or when Info fails, the value is
// {"name": NAME, "error": MESSAGE} instead. The variable holds the handle:
// publish a handle that lives as long as the process (expvar has no
// Unpublish), or a Clone of one.
func (a *Arc[T]) Expvar() expvar.Var {
	return expvar.Func(func() any {
		st, err := a.Info()
		if err != nil {
			return map[string]string{"name": a.name, "error": err.Error()}
		}
		return st
	})
}

// publishMu serialises PublishExpvar, so that two calls with the same name
// cannot both pass the check for an existing variable.
var publishMu sync.Mutex

// PublishExpvar publishes [Arc.Expvar] under name with [expvar.Publish]: the
// handle's SegmentInfo then appear in the JSON of /debug/vars (the handler of
// [expvar.Handler], which importing expvar registers on
// [net/http.DefaultServeMux]) as the value of the key name.
//
// Unlike expvar.Publish it does not panic: an empty name, or one already
// published (by this or any other package), returns an error matching
// [ErrInvalidOption].
func (a *Arc[T]) PublishExpvar(name string) (err error) {
	if name == "" {
		return &Error{Op: "publish expvar", Name: a.name, Detail: "empty expvar name", Err: ErrInvalidOption}
	}
	dup := func() error {
		return &Error{Op: "publish expvar", Name: a.name,
			Detail: fmt.Sprintf("expvar %q is already published", name), Err: ErrInvalidOption}
	}
	publishMu.Lock()
	defer publishMu.Unlock()
	if expvar.Get(name) != nil {
		return dup()
	}
	// Another package may publish the same name between Get and Publish
	// (expvar offers no atomic check): Publish then panics, which is turned
	// into the same error.
	defer func() {
		if r := recover(); r != nil {
			err = dup()
		}
	}()
	expvar.Publish(name, a.Expvar())
	return nil
}
