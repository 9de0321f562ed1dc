# Release hygiene for the nested modules (RELEASING.md). Each names in its
# go.mod the root version it is released against, with no replace; go.work
# (committed) builds them from this checkout during development.
# `make release-check` builds, vets and tests each one as a user would get
# it: GOWORK=off, against the root version it requires. While that version
# is not published it says so and proves the module builds against the
# current root instead: a scratch copy of the module in a temporary
# directory outside the tree, built through a go.work there that maps the
# required root version to this checkout (no go.mod is ever given a
# replace), removed afterwards.

ROOT_MODULE     := github.com/ipcarc/ipcarc
NESTED_MODULES  := prometheus

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
			echo "release-check:   checking $$m against this checkout instead, through a temporary go.work outside the tree;"; \
			echo "release-check:   tag $(ROOT_MODULE) $$ver before tagging $$m (RELEASING.md)"; \
			tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
			cp -R $$m "$$tmp/$$m"; \
			printf 'go 1.26.0\n\nuse ./%s\n\nreplace $(ROOT_MODULE) %s => %s\n' "$$m" "$$ver" "$(CURDIR)" > "$$tmp/go.work"; \
			(cd "$$tmp/$$m" && GOWORK="$$tmp/go.work" $(GO) build ./... && GOWORK="$$tmp/go.work" $(GO) vet ./... && \
			 GOWORK="$$tmp/go.work" $(GO) test -count=1 ./...); \
			rm -rf "$$tmp"; \
		fi; \
	done

TEST_EXTRA += release-check
