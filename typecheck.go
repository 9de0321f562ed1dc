package ipcarc

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// checkType reports whether values of t can live in shared memory: plain data
// only, because a pointer into one process's heap means nothing in another.
// Structs and arrays of numbers and bools qualify, and so do the sync/atomic
// integer types (they are structs of integers). The error names the path of
// the first offending field.
func checkType(t reflect.Type) error {
	if path, kind, ok := findPointer(t, t.String()); !ok {
		return &Error{Op: "check type", Err: fmt.Errorf("%w: %s is a %s", ErrUnsupportedType, path, kind)}
	}
	return nil
}

func findPointer(t reflect.Type, path string) (string, string, bool) {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return "", "", true
	case reflect.Array:
		return findPointer(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if p, k, ok := findPointer(f.Type, path+"."+f.Name); !ok {
				return p, k, false
			}
		}
		return "", "", true
	default: // Pointer, UnsafePointer, Slice, Map, String, Interface, Chan, Func
		return path, t.Kind().String(), false
	}
}

// layoutTag is the default type tag: FNV-1a 64 of a description of t's memory
// layout (kinds, sizes, offsets; not names), so that two programs agree
// whenever their types have the same shape, and a change of shape is caught.
func layoutTag(t reflect.Type) uint64 {
	var b strings.Builder
	describe(&b, t)
	return Tag(b.String())
}

func describe(b *strings.Builder, t reflect.Type) {
	switch t.Kind() {
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		describe(b, t.Elem())
	case reflect.Struct:
		b.WriteString("{")
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			b.WriteString(strconv.FormatUint(uint64(f.Offset), 10) + ":")
			describe(b, f.Type)
			b.WriteString(";")
		}
		b.WriteString("}" + strconv.FormatUint(uint64(t.Size()), 10))
	default:
		// Kind names distinguish int64 from float64 of the same size.
		b.WriteString(t.Kind().String())
	}
}
