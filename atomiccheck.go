package ipcarc

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
)

// The sync/atomic types a value may be made of for lock-free use: integers
// and bools, whose every operation is one sequentially consistent access of
// 4 or 8 bytes at the field's own address, the same instruction a C
// __atomic builtin or a Rust AtomicU64 uses. atomic.Pointer and atomic.Value
// hold pointers (meaningless in another process), and the plain types are
// not read and written atomically by Go code.
var atomicTypes = map[reflect.Type]bool{
	reflect.TypeFor[atomic.Int32]():   true,
	reflect.TypeFor[atomic.Int64]():   true,
	reflect.TypeFor[atomic.Uint32]():  true,
	reflect.TypeFor[atomic.Uint64]():  true,
	reflect.TypeFor[atomic.Uintptr](): true,
	reflect.TypeFor[atomic.Bool]():    true,
}

// atomicChecks caches checkAtomic per type: a handle asks once, at attach.
var atomicChecks sync.Map // reflect.Type -> error (nil stored as errAtomicOK)

var errAtomicOK = fmt.Errorf("ok")

// checkAtomic reports whether every field of t (recursively, arrays
// included) is one of the sync/atomic integer or bool types, or t is one
// itself: the condition for handing the value out for lock-free use. It is
// written over reflect.Type, not T, so that every shape of shared value (an
// Arc's T, a Slice's element) asks the same question. The error matches
// ErrUnsupportedType and names the path of the first field that is not an
// atomic (Detail says what it is).
func checkAtomic(t reflect.Type) error {
	if v, ok := atomicChecks.Load(t); ok {
		if v.(error) == errAtomicOK {
			return nil
		}
		return v.(error)
	}
	var err error = errAtomicOK
	if path, what, ok := findNonAtomic(t, t.String()); !ok {
		err = &Error{Op: "atomic", Detail: fmt.Sprintf("%s is %s, not a sync/atomic integer or bool type", path, what), Err: ErrUnsupportedType}
	} else if t.Size() == 0 {
		err = &Error{Op: "atomic", Detail: t.String() + " has no fields", Err: ErrUnsupportedType}
	}
	atomicChecks.Store(t, err)
	if err == errAtomicOK {
		return nil
	}
	return err
}

func findNonAtomic(t reflect.Type, path string) (string, string, bool) {
	if atomicTypes[t] {
		return "", "", true
	}
	switch t.Kind() {
	case reflect.Array:
		return findNonAtomic(t.Elem(), path+"[]")
	case reflect.Struct:
		if t.PkgPath() == "sync/atomic" {
			return path, "a " + t.String(), false
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Name == "_" && f.Type.Size() == 0 {
				continue // a zero-size marker (noCopy-like) holds no data
			}
			if p, k, ok := findNonAtomic(f.Type, path+"."+f.Name); !ok {
				return p, k, false
			}
		}
		return "", "", true
	default:
		return path, "a plain " + t.Kind().String(), false
	}
}
