//go:build !linux || !cgo

package ipcarc

// GC and Remove change segments through the C layer (ipcarc_gc,
// ipcarc_remove), which this build lacks. List and Inspect read in pure Go
// and work on Linux without cgo (admin_read.go); elsewhere admin_nolinux.go
// stubs them.

func GC(...AdminOption) ([]GCResult, error) { return nil, unsupported("gc", "") }

func GCName(name string, opts ...AdminOption) (GCResult, error) {
	err := unsupported("gc", name)
	return GCResult{Name: name, DryRun: buildAdminOptions(opts).dryRun, Err: err}, err
}

func Remove(name string, _ ...AdminOption) error { return unsupported("remove", name) }
