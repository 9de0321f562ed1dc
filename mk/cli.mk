# The ipcarc admin command (cmd/ipcarc): `make ipcarc` builds bin/ipcarc.
# Its tests run under `go test`, so nothing is added to TEST_EXTRA.

.PHONY: ipcarc
ipcarc:
	$(GO) build -o bin/ipcarc ./cmd/ipcarc

