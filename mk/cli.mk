# The ipcarc admin command (cmd/ipcarc): `make ipcarc` builds bin/ipcarc.
# Its tests run under `go test`, so nothing is added to TEST_EXTRA.

# This file is included before the top Makefile's first target: keep `make`
# with no target meaning what the top Makefile says.
cli_saved_goal := $(.DEFAULT_GOAL)

.PHONY: ipcarc
ipcarc:
	$(GO) build -o bin/ipcarc ./cmd/ipcarc

.DEFAULT_GOAL := $(cli_saved_goal)
