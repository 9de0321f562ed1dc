# The ipcarc admin command (cmd/ipcarc): `make ipcarc` builds bin/ipcarc.
# Its tests run under `go test` (cmd/ipcarc, and the CLI tests of the root
# package), so nothing is added to TEST_EXTRA. The completion tests check each
# script's syntax with the shells installed (bash always; zsh, fish and pwsh
# skip with the reason when missing): `make test` installs nothing, .ci/run
# installs what it can first.

.PHONY: ipcarc
ipcarc:
	$(GO) build -o bin/ipcarc ./cmd/ipcarc
