# Release hygiene for the nested modules (RELEASING.md). Each names in its
# go.mod the root version it is released against, with no replace; go.work
# (committed) builds them from this checkout during development.
# `make release-check` builds, vets and tests each one as a user would get
# it: GOWORK=off, against the root version it requires. While that version
# is not published it says so and proves the module builds against the
# current root instead, with a temporary replace in a scratch copy under
# build/release-check (the source tree is not touched).

ROOT_MODULE     := github.com/ipcarc/ipcarc
NESTED_MODULES  := prometheus
RELEASE_SCRATCH := build/release-check

.PHONY: release-check
release-check: check-tools
	@set -e; for m in $(NESTED_MODULES); do \
		ver=$$(awk '$$1 == "$(ROOT_MODULE)" { print $$2 } $$1 == "require" && $$2 == "$(ROOT_MODULE)" { print $$3 }' $$m/go.mod); \
		if grep -Eq '^[[:space:]]*replace\b|^replace \(' $$m/go.mod; then \
			echo "release-check: $$m/go.mod has a replace directive: a released module must not"; exit 1; fi; \
		case "$$ver" in v*.*.*) ;; *) echo "release-check: $$m/go.mod requires $(ROOT_MODULE) at '$$ver', not a release version"; exit 1;; esac; \
		if ! grep -q "^replace $(ROOT_MODULE) $$ver => ./" go.work; then \
			echo "release-check: go.work does not map $(ROOT_MODULE) $$ver (the version $$m requires) to this checkout: bump the two together"; exit 1; fi; \
		if (cd $$m && GOWORK=off GOFLAGS=-mod=mod $(GO) mod download $(ROOT_MODULE)@$$ver) >/dev/null 2>&1; then \
			echo "release-check: $$m against the published $(ROOT_MODULE) $$ver (GOWORK=off)"; \
			(cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./... && GOWORK=off $(GO) test -count=1 ./...); \
		else \
			echo "release-check: $(ROOT_MODULE) $$ver, which $$m/go.mod requires, cannot be fetched (not published yet, or no module proxy):"; \
			echo "release-check:   checking $$m against this checkout instead, with a temporary replace in $(RELEASE_SCRATCH)/$$m;"; \
			echo "release-check:   tag $(ROOT_MODULE) $$ver before tagging $$m (RELEASING.md)"; \
			rm -rf $(RELEASE_SCRATCH)/$$m; mkdir -p $(RELEASE_SCRATCH)/$$m; \
			cp -R $$m/. $(RELEASE_SCRATCH)/$$m/; \
			(cd $(RELEASE_SCRATCH)/$$m && GOWORK=off $(GO) mod edit -replace $(ROOT_MODULE)@$$ver=$(CURDIR) && \
			 GOWORK=off GOFLAGS=-mod=mod $(GO) build ./... && GOWORK=off GOFLAGS=-mod=mod $(GO) vet ./... && \
			 GOWORK=off GOFLAGS=-mod=mod $(GO) test -count=1 ./...); \
		fi; \
	done

TEST_EXTRA += release-check
