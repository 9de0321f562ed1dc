//go:build linux && cgo

package ipcarc

import "syscall"

// fromErrno turns a return code of the C layer into an error: the one place
// where errno values become sentinels. field is the validation field code the
// C layer reported (0 when none).
func fromErrno(op, name string, rc int, field int) error {
	if rc == 0 {
		return nil
	}
	en := syscall.Errno(rc)
	var err error
	switch en {
	case syscall.ENOENT:
		err = errList{ErrNotExist, en}
	case syscall.EEXIST:
		err = errList{ErrExist, en}
	case syscall.EBADMSG, syscall.ELOOP, syscall.EISDIR, syscall.ENODEV:
		err = ErrCorrupt
		if en != syscall.EBADMSG {
			err = errList{ErrCorrupt, en}
			field = fieldFile
		} else if field == 0 && handleOp(op) {
			// On a handle, the C layer's only EBADMSG is its check of a
			// mutex's kind before locking it (value or holder table).
			field = fieldMutex
		}
	case syscall.EPROTONOSUPPORT:
		err = ErrIncompatible
	case syscall.EPROTOTYPE:
		err = ErrTypeMismatch
	case syscall.ETIMEDOUT:
		err = errList{ErrTimeout, en}
	case syscall.EUSERS:
		err = ErrTooManyHolders
	case syscall.ECHILD:
		err = ErrForked
	case syscall.EOWNERDEAD:
		err = errOwnerDead
	case syscall.ENOTRECOVERABLE:
		err = ErrPoisoned
	case syscall.EBUSY:
		err = ErrWouldBlock
	case syscall.ERANGE:
		err = ErrOutOfRange
	case syscall.EDEADLK:
		err = ErrDeadlock
	case syscall.EXDEV:
		err = ErrNestedLock
	case syscall.EACCES:
		err = en
		if field == fieldOwner || field == fieldMode {
			err = errList{ErrUntrusted, en} // en matches fs.ErrPermission
		}
	case syscall.EPERM:
		if op == "unlock" || op == "clear poison" {
			err = ErrNotOwner
		} else {
			err = en
		}
	default:
		err = en
	}
	e := &Error{Op: op, Name: name, Err: err}
	if field != 0 {
		e.Field = Field(field)
	}
	switch field {
	case fieldVersion:
		if (op == "open" || op == "open or new") && name != "" {
			e.Detail = versionDetail(name)
		}
	case fieldOwner, fieldMode:
		if rc == int(syscall.EACCES) && name != "" {
			e.Detail = trustDetail(name, nil) // the default rule; openErr adds the options
		}
	case fieldEnded:
		e.Detail = "it existed, but its last holder closed or died: a segment lives while a handle on it is open (WithLifetime(UntilRemoved) keeps it until removed)"
	}
	return e
}

// handleOp reports whether op works on an attached handle, where the only
// validation left is the mutex-kind check made before every lock.
func handleOp(op string) bool {
	switch op {
	case "new", "open", "open or new", "gc", "remove", "inspect", "list":
		return false
	}
	return true
}
