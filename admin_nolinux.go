//go:build !linux

package ipcarc

// Segments live in Linux's /dev/shm: on another system there is nothing to
// list.

func List() ([]SegmentInfo, error) { return nil, unsupported("list", "") }

func Inspect(name string) (SegmentInfo, error) { return SegmentInfo{}, unsupported("inspect", name) }
