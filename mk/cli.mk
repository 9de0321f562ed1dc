# The ipcarc admin command (cmd/ipcarc): `make ipcarc` builds bin/ipcarc.
# Its tests run under `go test`, so nothing is added to TEST_EXTRA.

.PHONY: ipcarc
ipcarc:
	$(GO) build -o bin/ipcarc ./cmd/ipcarc


# The completion tests check the zsh and fish scripts' syntax with those
# shells (`zsh -n`, `fish -n`). Install them when missing and this user can
# (root with apt-get, as on CI); otherwise those two checks skip and say so.
.PHONY: cli-shells
cli-shells:
	@missing=; for s in zsh fish; do command -v $$s >/dev/null || missing="$$missing $$s"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing for the completion tests"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; } >/dev/null 2>&1 \
			|| echo "make: could not install$$missing: their completion syntax checks will skip"; \
	fi
