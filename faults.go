//go:build linux && cgo && ipcarc_faults

package ipcarc

// Built only with -tags ipcarc_faults: compiles cshm.c with its fault points
// (FAULT(phase) raises SIGKILL when the phase is armed), so that tests can kill
// a process at an exact instruction of the protocol. Normal builds have no
// fault points at all.

/*
#cgo CFLAGS: -DIPCARC_FAULTS
#include "cshm.h"
*/
import "C"
