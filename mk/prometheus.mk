# The Prometheus collector (prometheus/, package ipcarcprom) is a module of its
# own, so that the core module depends on golang.org/x/sys alone: `go vet
# ./...` and `go test ./...` from the root skip it, and this target checks it.
# Its go.sum is committed; the module proxy provides client_golang.

.PHONY: prometheus-test
prometheus-test: check-tools
	cd prometheus && $(GO) vet ./... && $(GO) test -count=1 ./...

TEST_EXTRA += prometheus-test
