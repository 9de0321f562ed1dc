//go:build !linux || !cgo

package ipcarc

// The admin API needs the C layer (ipcarc_gc, ipcarc_remove) and Linux's
// /dev/shm and open-file-description locks: this build has neither.

func List() ([]SegmentInfo, error) { return nil, unsupported("list", "") }

func Inspect(name string) (SegmentInfo, error) { return SegmentInfo{}, unsupported("inspect", name) }

func GC(...AdminOption) ([]GCResult, error) { return nil, unsupported("gc", "") }

func GCName(name string, opts ...AdminOption) (GCResult, error) {
	err := unsupported("gc", name)
	return GCResult{Name: name, DryRun: buildAdminOptions(opts).dryRun, Err: err}, err
}

func Remove(name string, _ ...AdminOption) error { return unsupported("remove", name) }
